"""Load a networkx graph saved as GraphML, GML or node-link JSON.

Nodes need ``name`` and ``type`` attributes; ``synonyms`` and ``xrefs`` may be lists (JSON)
or ``|``-separated strings (GraphML/GML store only scalars). Edges may carry ``relation``
(default ``related_to``) and ``source``. In-memory graphs go straight to
:meth:`KnowledgeGraph.from_networkx`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import networkx as nx

from realm.errors import DataError, KGError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport

__all__ = ["load_networkx"]


def _read(path: Path) -> nx.Graph:
    suffix = path.suffix.lower()
    try:
        if suffix == ".graphml":
            return nx.read_graphml(path)
        if suffix == ".gml":
            return nx.read_gml(path)
        if suffix == ".json":
            return nx.node_link_graph(json.loads(path.read_text(encoding="utf-8")), edges="links")
    except (nx.NetworkXError, ValueError, KeyError) as exc:
        raise DataError(f"not a readable {suffix} graph ({exc})", path=path) from exc
    raise DataError("unsupported graph format; use .graphml, .gml or node-link .json", path=path)


def load_networkx(path: str | os.PathLike, *, name: str | None = None, report: LoadReport | None = None) -> KnowledgeGraph:
    """Read a networkx graph file into a KnowledgeGraph."""
    path = Path(path)
    if not path.is_file():
        raise DataError("graph file not found", path=path)
    report = report or LoadReport(str(path))
    graph = _read(path)
    for _, data in graph.nodes(data=True):
        for key in ("synonyms", "xrefs"):
            if isinstance(data.get(key), str):
                data[key] = tuple(p.strip() for p in data[key].split("|") if p.strip())
        for key in ("name", "definition"):
            if isinstance(data.get(key), str):
                data[key] = report.clean(data[key], key, path=path)
    try:
        kg = KnowledgeGraph.from_networkx(graph, name=name or path.stem)
    except KGError as exc:
        raise DataError(str(exc), path=path) from exc
    report.log()
    return kg
