"""ICD-10-CM from simple-icd-10-cm's bundled tabular list: chapters, blocks, codes, is_a.

Two cuts keep the graph a size worth embedding, both recorded in kg/recipe.yaml:
chapter 20 (V00-Y99, external causes: "struck by a duck") is left out, and so are the
7-character codes, which in ICU data are almost all encounter extensions of injury codes
(initial / subsequent / sequela) that share their parent's meaning; 6-character codes
are likewise mostly laterality and episode splits (right/left eye, trimester), so codes
longer than 5 characters are mapped to their 5-character ancestor by callers.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path

from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport
from realm.records import Node

__all__ = ["EXCLUDED_CHAPTERS", "MAX_CODE_LENGTH", "build", "code_id", "input_files", "package_version"]

log = logging.getLogger(__name__)

EXCLUDED_CHAPTERS = ("20",)
MAX_CODE_LENGTH = 5  # characters without the dot
_SOURCE = "ICD10CM"


def package_version() -> str:
    """The installed simple-icd-10-cm version."""
    return version("simple-icd-10-cm")


def input_files() -> list[Path]:
    """The data files the package ships (for cache keys)."""
    import importlib.util

    spec = importlib.util.find_spec("simple_icd_10_cm")
    folder = Path(spec.origin).parent / "data"  # type: ignore[union-attr, arg-type]
    return sorted(folder.glob("*.xml")) + sorted(folder.glob("*.txt"))


def code_id(code: str, is_chapter: bool = False) -> str:
    """``I50.1`` -> ``ICD10CM:I50.1``; chapter ``9`` -> ``ICD10CM:chapter_9``."""
    return f"{_SOURCE}:chapter_{code}" if is_chapter else f"{_SOURCE}:{code}"


def _is_instruction(term: str) -> bool:
    """Coding instructions filed as inclusion terms ("This code is not for inpatient use.")."""
    return term.endswith(".") or " code" in term.lower()


def build(report: LoadReport | None = None) -> KnowledgeGraph:
    """The ICD-10-CM hierarchy as a KnowledgeGraph (chapters/blocks typed ``category``)."""
    import simple_icd_10_cm as cm

    report = report or LoadReport(_SOURCE)
    kg = KnowledgeGraph("icd10cm")
    kept: dict[str, str] = {}
    for code in cm.get_all_codes(with_dots=True):
        ancestors = cm.get_ancestors(code)
        chapter = code if cm.is_chapter(code) else ancestors[-1]
        too_long = not cm.is_chapter_or_block(code) and len(code.replace(".", "")) > MAX_CODE_LENGTH
        if chapter in EXCLUDED_CHAPTERS or too_long:
            continue
        if code in kept:
            # A block of one category shares the category's code ("B10"): one concept, one node.
            continue
        is_group = cm.is_chapter_or_block(code)
        node_id = code_id(code, cm.is_chapter(code))
        name = report.clean(cm.get_description(code), f"{node_id} name")
        synonyms = tuple(dict.fromkeys(
            t for t in (report.clean(s, f"{node_id} inclusion term") for s in cm.get_inclusion_term(code))
            if t and t.lower() != name.lower() and not _is_instruction(t)
        ))
        kg.add_node(Node(node_id, name, "category" if is_group else "disease", synonyms, source=_SOURCE))
        kept[code] = node_id
    for code, node_id in kept.items():
        parent = next((a for a in cm.get_ancestors(code) if a != code), None)
        if parent:
            kg.add_edge(node_id, kept[parent], "is_a", _SOURCE)
    log.info("ICD-10-CM: %d nodes", len(kg))
    return kg
