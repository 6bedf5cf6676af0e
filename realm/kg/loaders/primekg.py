"""Load PrimeKG's own files: ``kg.csv`` (edge list) and optionally ``disease_features.csv``.

``kg.csv`` has one row per edge with both ends described inline::

    relation,display_relation,x_index,x_id,x_type,x_name,x_source,y_index,y_id,y_type,y_name,y_source
    disease_phenotype_positive,phenotype present,27158,5090,disease,hyperkalemic periodic paralysis,MONDO,22561,2153,effect/phenotype,Hyperkalemia,HPO

Ids are turned into CURIEs (``HPO`` 2153 -> ``HP:0002153``, ``MONDO`` 5090 ->
``MONDO:0005090``, ``NCBI`` -> ``NCBIGene:``, ``DrugBank`` -> ``DRUGBANK:``), so a
PrimeKG node and the same HPO term from hp.obo share one id. ``disease_features.csv``
(keyed by ``node_index``) supplies disease definitions.
"""

from __future__ import annotations

import os
from pathlib import Path

from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport
from realm.kg.loaders.tables import read_csv_rows
from realm.records import Node

__all__ = ["load_primekg", "primekg_curie", "PRIMEKG_TYPES"]

_REQUIRED = ("relation", "x_index", "x_id", "x_type", "x_name", "x_source",
             "y_index", "y_id", "y_type", "y_name", "y_source")
#: PrimeKG source -> (CURIE prefix, zero-padded width of the local id or 0)
_PREFIX = {"HPO": ("HP", 7), "MONDO": ("MONDO", 7), "MONDO_grouped": ("MONDO", 7), "NCBI": ("NCBIGene", 0),
           "DrugBank": ("DRUGBANK", 0), "GO": ("GO", 7), "UBERON": ("UBERON", 7), "REACTOME": ("REACTOME", 0),
           "CTD": ("MESH", 0)}
#: PrimeKG node types -> realm node types (others are kept, '/' made '_')
PRIMEKG_TYPES = {"effect/phenotype": "phenotype", "gene/protein": "gene", "disease": "disease", "drug": "drug"}
_DEFINITION_COLUMNS = ("mondo_definition", "umls_description", "orphanet_definition")


def primekg_curie(source: str, local: str) -> str:
    """A PrimeKG (source, id) pair as a CURIE; grouped MONDO ids ("12_34") keep their first id."""
    local = local.strip()
    prefix, width = _PREFIX.get(source, (source.replace(" ", "_"), 0))
    if source == "MONDO_grouped":
        local = local.split("_")[0]
    if width and local.isdigit():
        local = local.zfill(width)
    return f"{prefix}:{local}"


def load_primekg(
    kg: str | os.PathLike,
    features: str | os.PathLike | None = None,
    *,
    name: str = "primekg",
    report: LoadReport | None = None,
) -> KnowledgeGraph:
    """Read PrimeKG's ``kg.csv`` (and ``disease_features.csv`` for definitions)."""
    kg_path = Path(kg)
    report = report or LoadReport(str(kg_path))
    nodes: dict[str, Node] = {}
    index_to_id: dict[str, str] = {}
    edges: set[tuple[str, str, str]] = set()
    for row_no, row in read_csv_rows(kg_path, _REQUIRED):
        ends = []
        for side in ("x", "y"):
            node_id = primekg_curie(row[f"{side}_source"], row[f"{side}_id"])
            node_name = report.clean(row[f"{side}_name"], f"{node_id} name", path=kg_path, row=row_no)
            if not node_name:
                report.problem("empty name", f"{node_id}; row skipped", path=kg_path, row=row_no)
                break
            kind = row[f"{side}_type"].strip()
            node = Node(node_id, node_name, PRIMEKG_TYPES.get(kind, kind.replace("/", "_")),
                        source=row[f"{side}_source"].strip())
            known = nodes.setdefault(node_id, node)
            if known.name != node.name or known.type != node.type:
                report.problem("conflicting node", f"{node_id} named {known.name!r} and {node.name!r}", path=kg_path, row=row_no)
            index_to_id.setdefault(row[f"{side}_index"].strip(), node_id)
            ends.append(node_id)
        else:
            edges.add((ends[0], ends[1], row["relation"].strip()))
    if features is not None:
        _add_definitions(nodes, index_to_id, Path(features), report)
    graph = KnowledgeGraph(name)
    for node_id in sorted(nodes):
        graph.add_node(nodes[node_id])
    for src, dst, relation in sorted(edges):
        graph.add_edge(src, dst, relation, "PrimeKG")
    report.log()
    return graph


def _add_definitions(nodes: dict[str, Node], index_to_id: dict[str, str], path: Path, report: LoadReport) -> None:
    from dataclasses import replace

    for row_no, row in read_csv_rows(path, ("node_index",)):
        node_id = index_to_id.get(row["node_index"].strip())
        if node_id is None:
            report.problem("feature for unknown node", f"node_index {row['node_index']}", path=path, row=row_no)
            continue
        text = next((row[c] for c in _DEFINITION_COLUMNS if (row.get(c) or "").strip()), "")
        if text and not nodes[node_id].definition:
            nodes[node_id] = replace(nodes[node_id], definition=report.clean(text, f"{node_id} definition", path=path, row=row_no))
