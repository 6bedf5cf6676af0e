"""The lab-finding table: time-series variable + direction -> threshold -> KG node.

The table lives at ``kg/lab_findings.csv`` in the repository (reviewable by a clinician in
a diff, like mimic3-benchmarks' resource files). Columns::

    variable,direction,threshold,unit,node_id,node_name,status,note
    potassium,high,5.5,mmol/L,HP:0002153,Hyperkalemia,reviewed,

``direction`` is ``high`` (value > threshold) or ``low`` (value < threshold). ``node_id``
is an HPO term where one exists, else a ``LAB:<variable>_<direction>`` node that the
default KG adds. Variables must be canonical names from ``realm/resources/variables.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import realm
from realm.errors import DataError, KGError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.tables import read_csv_rows

__all__ = ["LabFindingRule", "load_lab_findings", "resolve_rule_nodes", "lab_findings_path", "kg_resource_dir", "lab_node_id"]

_COLUMNS = ("variable", "direction", "threshold", "unit", "node_id", "node_name")
_DIRECTIONS = ("high", "low")


@dataclass(frozen=True)
class LabFindingRule:
    """One rule: ``variable`` beyond ``threshold`` (in ``unit``) in ``direction`` means ``node_id``."""

    variable: str
    direction: str
    threshold: float
    unit: str
    node_id: str
    node_name: str

    def fires(self, value: float) -> bool:
        """True when ``value`` is strictly beyond the threshold in this rule's direction."""
        return value > self.threshold if self.direction == "high" else value < self.threshold


def lab_node_id(variable: str, direction: str) -> str:
    """The id of the lab_finding node the default KG adds for (variable, direction)."""
    return f"LAB:{variable}_{direction}"


def kg_resource_dir() -> Path:
    """The repository's ``kg/`` folder (beside the ``realm`` package)."""
    folder = Path(realm.__file__).resolve().parents[1] / "kg"
    if not folder.is_dir():
        raise DataError("the repository's kg/ folder is missing (realm is installed without its data?)", path=folder)
    return folder


def lab_findings_path() -> Path:
    """The default lab-finding table, ``kg/lab_findings.csv``."""
    path = kg_resource_dir() / "lab_findings.csv"
    if not path.is_file():
        raise DataError("lab-finding table not found", path=path)
    return path


def _known_variables() -> set[str]:
    path = Path(realm.__file__).resolve().parent / "resources" / "variables.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["variable"] for row in csv.DictReader(fh)}


def load_lab_findings(path: str | os.PathLike | None = None) -> list[LabFindingRule]:
    """Read and validate the lab-finding table (default: ``kg/lab_findings.csv``)."""
    path = Path(path) if path is not None else lab_findings_path()
    known = _known_variables()
    rules: list[LabFindingRule] = []
    seen: set[tuple[str, str]] = set()
    for row_no, row in read_csv_rows(path, _COLUMNS):
        variable, direction = row["variable"].strip(), row["direction"].strip()
        if variable not in known:
            raise DataError(f"unknown variable {variable!r} (not in realm/resources/variables.csv)", path=path, row=row_no, field="variable")
        if direction not in _DIRECTIONS:
            raise DataError(f"direction {direction!r} is not one of {_DIRECTIONS}", path=path, row=row_no, field="direction")
        if (variable, direction) in seen:
            raise DataError(f"second rule for ({variable}, {direction})", path=path, row=row_no)
        seen.add((variable, direction))
        try:
            threshold = float(row["threshold"])
        except ValueError:
            raise DataError(f"threshold {row['threshold']!r} is not a number", path=path, row=row_no, field="threshold") from None
        node_id, node_name = row["node_id"].strip(), row["node_name"].strip()
        if ":" not in node_id or not node_name:
            raise DataError("node_id must be a CURIE and node_name non-empty", path=path, row=row_no, field="node_id")
        rules.append(LabFindingRule(variable, direction, threshold, row["unit"].strip(), node_id, node_name))
    return rules


def resolve_rule_nodes(rules: list[Any], kg: KnowledgeGraph) -> tuple[list[Any], list[str]]:
    """Rules whose node is in ``kg`` (by id, alias, or a node's xref), re-pointed at the KG's
    id; and the node ids no KG node answers to (those rules are dropped: a finding the model
    cannot embed is noise)."""
    by_xref: dict[str, str] = {}
    for node in kg.nodes():
        for xref in node.xrefs:
            by_xref.setdefault(xref, node.id)
    kept, missing = [], []
    for rule in rules:
        try:
            node_id = kg.resolve(rule.node_id)
        except KGError:
            node_id = by_xref.get(rule.node_id)
        if node_id is None:
            missing.append(rule.node_id)
        else:
            kept.append(dataclasses.replace(rule, node_id=node_id) if node_id != rule.node_id else rule)
    return kept, sorted(set(missing))
