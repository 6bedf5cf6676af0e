"""Junk synonyms of the packaged vocabularies, removed by documented rules (kg/recipe.yaml).

A synonym is a promise that a note saying it means the node. The vocabularies break that
promise in a few recognisable ways, each a rule here; every removal is recorded as a
:class:`RemovedSynonym` (node, surface, rule) so the list can be reviewed
(``kg/checks/removed_synonyms.csv``) and counted (``realm kg stats``):

``tradename``
    drug-dictionary entries of the form ``tradename = sirturo``: an annotation, not a name.
``nos``
    ICD "X NOS" inclusion terms: "not otherwise specified" is a coding instruction a note
    never writes, and "X" alone is the broader concept's surface, not this code's (removed,
    not rewritten: "Pain NOS" as "pain" would add a second node to every "pain").
``name_of_other``
    a synonym that is the name of another node of the same vocabulary and type: the surface
    names that node, not this one.
``shared``
    a synonym of several nodes of one vocabulary and type, none of them named so: it stays
    only on the broadest node when that node is an ancestor (``is_a``) of all the others, and
    is removed from every node otherwise (siblings: one surface, two concepts).
``shared_descriptor``
    (MeSH diseases, :mod:`realm.kg.sources.mesh_dicts`) entries filed under one descriptor id
    whose tree numbers share nothing with the descriptor's own entry: a different concept
    ("myocardial infarction" under *Heart Rupture, Post-Infarction*), so its names and
    variants are not merged in as synonyms.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from realm.kg.findings_table import kg_resource_dir
from realm.kg.graph import KnowledgeGraph
from realm.resources.words import is_stop_surface

__all__ = ["RemovedSynonym", "RULES", "filter_synonyms", "count_by_rule", "write_removed", "read_removed",
           "removed_list_path", "name_counts"]

RULES = ("tradename", "nos", "name_of_other", "shared", "shared_descriptor")
_TRADENAME = re.compile(r"^\s*trade\s*name\s*=", re.IGNORECASE)
_NOS = re.compile(r"\bNOS\b")


@dataclass(frozen=True)
class RemovedSynonym:
    """One synonym a rule took off a node (``rule`` is one of :data:`RULES`)."""

    node_id: str
    synonym: str
    rule: str


def _ancestors(kg: KnowledgeGraph, node_id: str) -> set[str]:
    seen: set[str] = set()
    todo = [node_id]
    while todo:
        for _, parent in kg.neighbors(todo.pop(), "is_a"):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def filter_synonyms(kg: KnowledgeGraph) -> list[RemovedSynonym]:
    """Apply the rules ``tradename``, ``nos``, ``name_of_other`` and ``shared`` to every node
    of ``kg`` in place; returns what was removed, in node order."""
    removed: list[RemovedSynonym] = []
    named: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for node in kg.nodes():
        named[(node.source, node.type, node.name.casefold())].add(node.id)
    surfaces = defaultdict(set, {k: set(v) for k, v in named.items()})
    for node in kg.nodes():
        for s in node.synonyms:
            surfaces[(node.source, node.type, s.casefold())].add(node.id)

    # "shared": a node keeps a surface it shares only when it is the broadest, i.e. each
    # other holder has this node among its ancestors (computed for the few holders only).
    shared_holders = {i for k, ids in surfaces.items() if len(ids) > 1 and k not in named for i in ids}
    descendants: dict[str, set[str]] = defaultdict(set)
    for node_id in shared_holders:
        for ancestor in _ancestors(kg, node_id):
            descendants[ancestor].add(node_id)

    def keep(node_id: str, source: str, type_: str, text: str) -> str | None:
        """The synonym as kept (None: removed, recorded)."""
        if _TRADENAME.match(text):
            removed.append(RemovedSynonym(node_id, text, "tradename"))
            return None
        if _NOS.search(text):
            removed.append(RemovedSynonym(node_id, text, "nos"))
            return None
        owners = named.get((source, type_, text.casefold()), set())
        if owners - {node_id}:
            removed.append(RemovedSynonym(node_id, text, "name_of_other"))
            return None
        sharing = surfaces[(source, type_, text.casefold())] - {node_id}
        if sharing and not owners and not sharing <= descendants[node_id]:
            removed.append(RemovedSynonym(node_id, text, "shared"))
            return None
        return text

    for node in list(kg.nodes()):
        kept = [keep(node.id, node.source, node.type, s) for s in node.synonyms]
        cleaned = tuple(dict.fromkeys(s for s in kept if s and s.casefold() != node.name.casefold()))
        if cleaned != node.synonyms:
            kg.add_node(replace(node, synonyms=cleaned), replace=True)
    return removed


def count_by_rule(removed: Iterable[RemovedSynonym]) -> dict[str, int]:
    """Removed synonyms per rule, every rule listed (0 where nothing was removed)."""
    counts = Counter(r.rule for r in removed)
    return {rule: counts.get(rule, 0) for rule in RULES}


_COLUMNS = ("node_id", "synonym", "rule")


def write_removed(removed: Iterable[RemovedSynonym], path: str | Path) -> Path:
    """The review list: one ``node_id,synonym,rule`` row per removal, sorted."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_COLUMNS)
        writer.writerows(sorted((r.node_id, r.synonym, r.rule) for r in removed))
    return path


def read_removed(path: str | Path) -> list[RemovedSynonym]:
    """The rows of a review list written by :func:`write_removed`."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        return [RemovedSynonym(row["node_id"], row["synonym"], row["rule"]) for row in csv.DictReader(fh)]


def removed_list_path() -> Path:
    """The committed review list of the default KG, ``kg/checks/removed_synonyms.csv``
    (a test checks that it equals what a build removes)."""
    return kg_resource_dir() / "checks" / "removed_synonyms.csv"


def name_counts(kg: KnowledgeGraph) -> dict[str, int]:
    """What ``realm kg stats`` reports about names: the default KG's junk synonyms removed per
    rule (from the review list), and the stop-word surfaces the lexicon and index refuse."""
    counts = {f"removed synonyms: {rule}": n for rule, n in count_by_rule(
        read_removed(removed_list_path()) if kg.name == "default" else ()).items()}
    counts["stop-word surfaces refused"] = sum(
        is_stop_surface(text) for node in kg.nodes() for text in (node.name, *node.synonyms))
    return counts
