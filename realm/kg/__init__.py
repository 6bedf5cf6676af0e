"""The knowledge graph: graph, loaders, the default KG, the Chroma index, the linker, embeddings.

Names are imported on first use: the index and linker pull in Chroma and onnxruntime, which
code that only needs the graph should not pay for.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "KnowledgeGraph",
    "load_kg",
    "Linker",
    "LinkerConfig",
    "Candidate",
    "ChromaIndex",
    "NumpyIndex",
    "build_index",
    "check_index",
    "get_embedder",
    "node_embeddings",
]

_EXPORTS = {
    "KnowledgeGraph": "realm.kg.graph",
    "load_kg": "realm.kg.spec",
    "Linker": "realm.kg.linker",
    "LinkerConfig": "realm.kg.linker",
    "Candidate": "realm.kg.linker",
    "ChromaIndex": "realm.kg.index",
    "NumpyIndex": "realm.kg.index",
    "build_index": "realm.kg.index",
    "check_index": "realm.kg.index",
    "get_embedder": "realm.kg.embedders",
    "node_embeddings": "realm.kg.node_embeddings",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'realm.kg' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
