"""The pipeline API: each stage a plain function over typed configs and files.

The CLI, the demo, the benchmarks and the notebooks call these functions; none of them takes
an argparse namespace.
"""
