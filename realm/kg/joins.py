"""Concept joins: ``same_as`` edges between nodes of different vocabularies that denote one
concept, each with its evidence, so :meth:`KnowledgeGraph.concept_of` can group them.

Evidence, in the order joins are accepted (the rules, the rules dropped and the hand-checked
precision are in kg/recipe.yaml and kg/checks/concept_joins_sample.csv):

``gem``
    an ICD-9-CM and an ICD-10-CM code that the CMS GEMs map to each other and to nothing
    else, in both directions, without the "approximate" or "combination" flag.
``name``
    nodes of one type (disease with disease) whose *preferred* names normalize alike (word
    bag, possessives and "unspecified"/"NOS"/"disease" ignored); a name held by two nodes of one
    vocabulary joins only the one that is the other's is_a parent, and nothing when they are
    not so related.

Dropped after the hand check (precision below 0.98; kg/checks/concept_joins_dropped.csv):
HPO's own ICD xrefs (often a broader code: "Skin-picking" -> Trichotillomania), the lab
table's HP ids (a threshold is not the condition: "sbp > 180" is not Hypertension), the drug
dictionary's MeSH ids (unrelated descriptors) and equal names across types (an HPO feature
and the disease named after it: "Propionic acidemia").

The guard: a concept holds at most one node per vocabulary (id prefix). A join that would
put two nodes of one vocabulary into one concept (two ICD-10 codes, two MeSH descriptors)
is refused and counted; since joins are accepted strongest evidence first, a name join never
overrides a GEM pair.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from realm.kg.graph import SAME_AS, KnowledgeGraph

__all__ = ["Join", "JoinReport", "gem_joins", "name_joins", "add_joins", "name_key",
           "EVIDENCE"]

log = logging.getLogger(__name__)

EVIDENCE = ("gem", "name")
#: Only diseases join by name: phenotypes come from HPO alone (a phenotype and a disease of
#: one name sampled below 0.98), drugs and genes from one vocabulary each.
_NAME_TYPES = ("disease",)
_WORD = re.compile(r"[a-z0-9]+")
_POSSESSIVE = re.compile(r"['’]s\b")
#: Words that do not change which condition a preferred name denotes.
_IGNORED = {"of", "the", "and", "nos", "unspecified", "disease", "disorder"}


@dataclass(frozen=True)
class Join:
    """Two nodes of one concept and why (``evidence`` in :data:`EVIDENCE`, ``source`` the
    vocabulary or file that gave it)."""

    a: str
    b: str
    evidence: str
    source: str

    @property
    def label(self) -> str:
        """The edge's source field: ``evidence:source``."""
        return f"{self.evidence}:{self.source}"


@dataclass
class JoinReport:
    """Joins added and refused per evidence type."""

    added: Counter
    refused: Counter

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"added": dict(sorted(self.added.items())), "refused": dict(sorted(self.refused.items()))}


def _prefix(node_id: str) -> str:
    return node_id.partition(":")[0]


def name_key(text: str) -> str:
    """Lower-case word bag of a preferred name: "Failure, Heart" == "heart failure",
    "Wilson's disease" == "Wilson disease"."""
    words = [w for w in _WORD.findall(_POSSESSIVE.sub("", text.lower())) if w not in _IGNORED]
    return " ".join(sorted(words))


def _gem_rows(path: Path, src_col: str, dst_col: str) -> dict[str, list[tuple[str, bool]]]:
    """Source code -> [(target code, exact)] for the mapped rows of one GEM file."""
    out: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("no_map") == "1":
                continue
            exact = row.get("approximate") == "0" and row.get("combination") == "0"
            out[row[src_col]].append((row[dst_col], exact))
    return out


def gem_joins(kg: KnowledgeGraph, forward: Path, backward: Path) -> list[Join]:
    """ICD-9-CM <-> ICD-10-CM joins where both GEMs give one exact mapping, to each other.

    Both codes must be KG nodes as they are (a code cut to its kept ancestor is broader)."""
    from realm.kg.sources.icd9 import dotted

    nine_to_ten = _gem_rows(forward, "icd9cm", "icd10cm")
    ten_to_nine = _gem_rows(backward, "icd10cm", "icd9cm")
    found = []
    for nine, targets in sorted(nine_to_ten.items()):
        if len(targets) != 1 or not targets[0][1]:
            continue
        ten = targets[0][0]
        if ten_to_nine.get(ten) != [(nine, True)]:
            continue
        a = f"ICD9CM:{dotted(nine)}"
        b = f"ICD10CM:{ten[:3]}.{ten[3:]}" if len(ten) > 3 else f"ICD10CM:{ten}"
        if a in kg and b in kg and kg.node(a).type == kg.node(b).type == "disease":
            found.append(Join(a, b, "gem", "CMS GEM"))
    return found


def _is_parent(kg: KnowledgeGraph, parent: str, child: str) -> bool:
    return kg.graph.has_edge(child, parent, key="is_a")


def name_joins(kg: KnowledgeGraph) -> list[Join]:
    """Joins between nodes of one type and different vocabularies with equal name keys."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for node in kg.nodes():
        if node.type in _NAME_TYPES:
            key = name_key(node.name)
            if key:
                groups[(node.type, key)][_prefix(node.id)].append(node.id)
    found = []
    for per_vocabulary in groups.values():
        chosen = []
        for ids in per_vocabulary.values():
            if len(ids) == 1:
                chosen.append(ids[0])
                continue
            # "Heart failure" (I50) and "Heart failure, unspecified" (I50.9): the parent is the concept.
            parents = [p for p in ids if all(p == c or _is_parent(kg, p, c) for c in ids)]
            if len(parents) == 1:
                chosen.append(parents[0])
        chosen.sort()
        for i, a in enumerate(chosen):
            for b in chosen[i + 1:]:
                found.append(Join(a, b, "name", "preferred name"))
    return found


def add_joins(kg: KnowledgeGraph, joins: Iterable[Join]) -> JoinReport:
    """Add ``same_as`` edges for ``joins`` in order, refusing any join that would put two
    nodes of one vocabulary into one concept; returns the counts."""
    root: dict[str, str] = {}
    members: dict[str, set[str]] = {}  # root -> vocabularies (id prefixes) in its component

    def find(x: str) -> str:
        root.setdefault(x, x)
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    report = JoinReport(Counter(), Counter())
    for join in joins:
        ra, rb = find(join.a), find(join.b)
        if ra == rb:
            continue  # already one concept (a second piece of evidence adds nothing)
        va, vb = members.get(ra, {_prefix(join.a)}), members.get(rb, {_prefix(join.b)})
        if va & vb:
            report.refused[join.evidence] += 1
            continue
        root[rb] = ra
        members[ra] = va | vb
        members.pop(rb, None)
        kg.add_edge(join.a, join.b, SAME_AS, join.label)
        report.added[join.evidence] += 1
    log.info("concept joins: %s", report.as_dict())
    return report
