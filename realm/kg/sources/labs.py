"""Lab-finding nodes from ``kg/lab_findings.csv``: one ``LAB:<variable>_<direction>`` node per rule.

Each lab_finding node is what the time-series stage asserts ("potassium high"); when the
rule's concept is an HPO term it gets an ``indicates`` edge to it, so a finding and the
same phenotype written in a note meet in the graph.
"""

from __future__ import annotations

from pathlib import Path

from realm.errors import KGError
from realm.kg.findings_table import lab_findings_path, lab_node_id, load_lab_findings
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

__all__ = ["add_lab_findings", "input_files"]


def input_files() -> list[Path]:
    """The lab-finding table (for cache keys)."""
    return [lab_findings_path()]


def add_lab_findings(kg: KnowledgeGraph, path: Path | None = None) -> int:
    """Add a lab_finding node per rule (+ ``indicates`` edge to its HPO term); returns the count."""
    rules = load_lab_findings(path)
    for rule in rules:
        node_id = lab_node_id(rule.variable, rule.direction)
        sign = ">" if rule.direction == "high" else "<"
        readable = rule.variable.replace("_", " ")
        name = rule.node_name if rule.node_id == node_id else f"{readable} {rule.direction}"
        definition = f"{readable} {sign} {rule.threshold:g} {rule.unit}"
        if node_id in kg:
            raise KGError(f"lab finding {node_id} added twice")
        kg.add_node(Node(node_id, name, "lab_finding", (), definition, "realm-labs",
                         (rule.node_id,) if rule.node_id != node_id else ()))
        if rule.node_id != node_id:
            if rule.node_id not in kg:
                raise KGError(f"lab finding {node_id}: target {rule.node_id} ({rule.node_name}) is not in the KG")
            kg.add_edge(node_id, rule.node_id, "indicates", "realm-labs")
    return len(rules)
