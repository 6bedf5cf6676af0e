"""ATC drug classes from ``kg/drug_classes.csv`` (WHO ATC classification, transcribed by hand).

MeSH, through the DrugNER dictionaries, leaves many ICU drugs without any class (sodium
chloride, potassium chloride, fentanyl, famotidine, ...) and has no class for IV solutions or
electrolyte replacements. The ATC table adds them:

- a class row (code of 1, 3, 4 or 5 characters) becomes a ``drug_class`` node ``ATC:<code>``
  with an ``is_a`` edge to the nearest shorter code of the table (its ATC parent);
- a substance row (7 characters) is matched to the KG's ``drug`` node of that name or one of
  its synonyms (case-folded; a name naming two nodes prefers the node whose own name it is),
  or becomes a new ``DRUG:<slug>`` node (source ``ATC``) when the KG lacks it (a row whose
  names match two KG drugs is skipped and counted as ambiguous); it gets an
  ``is_a`` edge to its 5-character class, and the table's synonyms are added to the node.

A substance may have several codes (sodium chloride: A12CA01, B05BB01, B05CB01, B05XA03),
hence several parents. Rows that break the code structure raise :class:`KGError` naming the row.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from realm.errors import KGError
from realm.kg.findings_table import kg_resource_dir
from realm.kg.graph import KnowledgeGraph
from realm.kg.sources.mesh_dicts import drug_id
from realm.records import Node

__all__ = ["AtcRow", "add_drug_classes", "drug_classes_path", "input_files", "load_drug_classes"]

log = logging.getLogger(__name__)

SOURCE = "ATC"
_CLASS_LEVELS = (1, 3, 4, 5)  # code lengths of ATC levels 1-4; level 5 (substances) has 7
_COLUMNS = ("atc_code", "name", "synonyms", "status")


@dataclass(frozen=True)
class AtcRow:
    """One row of the table: a class (code of 1-5 characters) or a substance (7)."""

    code: str
    name: str
    synonyms: tuple[str, ...]
    line: int

    @property
    def is_substance(self) -> bool:
        return len(self.code) == 7

    @property
    def parent(self) -> str | None:
        """The code of the ATC level above (None for an anatomical main group)."""
        shorter = [n for n in _CLASS_LEVELS if n < len(self.code)]
        return self.code[: shorter[-1]] if shorter else None


def drug_classes_path() -> Path:
    """The default table, ``kg/drug_classes.csv``."""
    return kg_resource_dir() / "drug_classes.csv"


def input_files() -> list[Path]:
    """The table (for cache keys)."""
    return [drug_classes_path()]


def load_drug_classes(path: Path | None = None) -> list[AtcRow]:
    """The table's rows, checked: codes of 1, 3, 4, 5 or 7 characters, every parent listed."""
    path = path or drug_classes_path()
    if not path.is_file():
        raise KGError(f"drug-class table not found: {path}")
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [(i, line) for i, line in enumerate(fh, 1) if not line.startswith("#")]
    reader = csv.DictReader([line for _, line in lines])
    missing = set(_COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise KGError(f"{path}: missing columns {sorted(missing)}")
    rows: list[AtcRow] = []
    for (number, _), record in zip(lines[1:], reader):
        code, name = (record["atc_code"] or "").strip(), (record["name"] or "").strip()
        if len(code) not in (*_CLASS_LEVELS, 7) or not code[:1].isalpha() or not name:
            raise KGError(f"{path}:{number}: field atc_code/name: {code!r} is not an ATC code with a name")
        synonyms = tuple(s.strip() for s in (record["synonyms"] or "").split("|") if s.strip())
        rows.append(AtcRow(code, name, synonyms, number))
    classes = {r.code for r in rows if not r.is_substance}
    for row in rows:
        if row.parent is not None and row.parent not in classes:
            raise KGError(f"{path}:{row.line}: field atc_code: parent class {row.parent} of {row.code} is not listed")
        if row.is_substance and row.synonyms and row.name.lower() in {s.lower() for s in row.synonyms}:
            raise KGError(f"{path}:{row.line}: field synonyms: repeats the name {row.name!r}")
    return rows


def _drug_index(kg: KnowledgeGraph) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(own name -> drug ids, synonym -> drug ids), case-folded."""
    names: dict[str, set[str]] = {}
    synonyms: dict[str, set[str]] = {}
    for node in kg.nodes("drug"):
        names.setdefault(node.name.casefold(), set()).add(node.id)
        for text in node.synonyms:
            synonyms.setdefault(text.casefold(), set()).add(node.id)
    return names, synonyms


def _find(row: AtcRow, names: dict[str, set[str]], synonyms: dict[str, set[str]]) -> set[str]:
    """The KG drug nodes the row names: by own name if any, else by synonym."""
    for index in (names, synonyms):
        found = set().union(*(index.get(t.casefold(), set()) for t in (row.name, *row.synonyms)))
        if found:
            return found
    return set()


def add_drug_classes(kg: KnowledgeGraph, path: Path | None = None) -> dict[str, int]:
    """Add the table's classes, missing substances and is_a edges; returns counts."""
    rows = load_drug_classes(path)
    counts = {"classes": 0, "matched": 0, "added": 0, "ambiguous": 0, "edges": 0}
    for row in (r for r in rows if not r.is_substance):
        node_id = f"ATC:{row.code}"
        if node_id in kg:
            raise KGError(f"drug-class table line {row.line}: {node_id} added twice")
        kg.add_node(Node(node_id, row.name, "drug_class", (), f"ATC {row.code}", SOURCE))
        if row.parent is not None:
            kg.add_edge(node_id, f"ATC:{row.parent}", "is_a", SOURCE)
        counts["classes"] += 1
    names, synonyms = _drug_index(kg)
    resolved: dict[str, str] = {}  # substance name -> node id, so a second code reuses it
    for row in (r for r in rows if r.is_substance):
        key = row.name.casefold()
        found = {resolved[key]} if key in resolved else _find(row, names, synonyms)
        if len(found) > 1:
            # Two KG drugs answer to the row's names: adding a third would only deepen the
            # ambiguity, and picking one would be a guess. The row is skipped and counted.
            log.info("ATC %s %s names %d KG drugs; skipped", row.code, row.name, len(found))
            counts["ambiguous"] += 1
            continue
        node_id = next(iter(found), None)
        if node_id is None:
            node_id = drug_id(row.name)
            if node_id in kg:
                raise KGError(f"drug-class table line {row.line}: {node_id} exists but is not a drug")
            kg.add_node(Node(node_id, row.name, "drug", row.synonyms, "", SOURCE, (f"ATC:{row.code}",)))
            counts["added"] += 1
        elif key not in resolved:
            counts["matched"] += 1
        node = kg.node(node_id)
        extra = tuple(s for s in (row.name, *row.synonyms)
                      if s.casefold() != node.name.casefold() and s.casefold() not in {t.casefold() for t in node.synonyms})
        if extra:
            kg.add_node(replace(node, synonyms=node.synonyms + extra), replace=True)
            for text in extra:
                synonyms.setdefault(text.casefold(), set()).add(node_id)
        resolved[key] = node_id
        kg.add_edge(node_id, f"ATC:{row.code[:5]}", "is_a", SOURCE)
        counts["edges"] += 1
    log.info("ATC drug classes: %d classes, %d substances matched, %d added", counts["classes"],
             counts["matched"], counts["added"])
    return counts
