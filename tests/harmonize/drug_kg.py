"""Test helper for realm.harmonize: a tiny drug KG (as an object, or as files and a KG spec)."""

from __future__ import annotations

from typing import Any

from realm.kg.graph import KnowledgeGraph
from realm.records import Node


def tiny_drug_kg() -> KnowledgeGraph:
    """Eight drugs, four MeSH-like classes, is_a edges as the DrugNER build makes them."""
    nodes = [
        Node("DRUG:vancomycin", "Vancomycin", "drug", ("vancocin",)),
        Node("DRUG:ceftriaxone", "Ceftriaxone", "drug", ("rocephin",)),
        Node("DRUG:acetaminophen", "Acetaminophen", "drug", ("apap", "tylenol")),
        Node("DRUG:codeine", "Codeine", "drug"),
        Node("DRUG:oxycodone", "Oxycodone", "drug", ("roxicodone",)),
        Node("DRUG:morphine", "Morphine", "drug", ("ms contin",)),
        Node("DRUG:heparin", "Heparin", "drug"),
        Node("DRUG:metoprolol", "Metoprolol", "drug", ("lopressor",)),
        Node("MESH:D000900", "Cephalosporins", "drug_class"),
        Node("MESH:D009022", "Morphine Derivatives", "drug_class"),
        Node("MESH:D044482", "Acetanilides", "drug_class"),
        Node("MESH:D011412", "Propanolamines", "drug_class"),
    ]
    edges = [
        ("DRUG:ceftriaxone", "MESH:D000900", "is_a", "t"),
        ("DRUG:codeine", "MESH:D009022", "is_a", "t"),
        ("DRUG:morphine", "MESH:D009022", "is_a", "t"),
        ("DRUG:oxycodone", "DRUG:codeine", "is_a", "t"),
        ("DRUG:acetaminophen", "MESH:D044482", "is_a", "t"),
        ("DRUG:metoprolol", "MESH:D011412", "is_a", "t"),
    ]
    return KnowledgeGraph.from_nodes_edges(nodes, edges, name="tiny-drugs")


def write_tiny_kg_spec(folder: Any) -> Any:
    """The tiny KG as nodes/edges CSV plus a KG spec YAML for the CLI; returns the YAML path."""
    from realm.kg.loaders import write_tables

    write_tables(tiny_drug_kg(), folder)
    spec = folder / "tiny.yaml"
    spec.write_text("name: tiny-drugs\nsources:\n  - loader: csv\n    nodes: nodes.csv\n    edges: edges.csv\n")
    return spec
