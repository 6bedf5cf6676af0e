"""The knowledge graph: graph, loaders, the default KG, the Chroma index, the linker, embeddings."""

from realm.kg.graph import KnowledgeGraph

__all__ = ["KnowledgeGraph"]
