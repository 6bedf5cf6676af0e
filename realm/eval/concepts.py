"""Explanations in clinical terms: which of a stay's KG nodes are one concept, and which KG
path brought a node the knowledge the model learnt from training stays.

One phrase in a note is often linked to several vocabularies at once ("ascites": HPO,
ICD-10-CM, ICD-9-CM), and a clinician wants one row for it with every code on it.
:func:`concept_groups` merges a stay's nodes that the KG says are one concept (its
``concept_of``: the ``same_as`` components of realm.kg.joins, built from hand-checked join
rules) or that one mention was linked to.

:class:`KnowledgePaths` says how a node's vector relates to what the model was trained on.
A node's vector (realm.features.entities) hashes the node and its ``is_a`` ancestors, so a
node shares most of it with the codes below the same parent: what the model learnt from
training stays that carried those codes reaches this node through that parent. The path
shown is the node, then its ``is_a`` ancestors up to the nearest one that training stays
carried through some other code, with the number of training stays at both ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

__all__ = ["concept_groups", "concept_codes", "KnowledgePaths", "PATH_DEPTH"]

#: How far up ``is_a`` a path looks: the depth of the ancestors a node vector hashes
#: (realm.features.entities.ancestor_vectors); beyond it no knowledge is shared that way.
PATH_DEPTH = 4


def concept_groups(kg: Any, node_ids: Iterable[str],
                   same_mention: Iterable[Iterable[str]] = ()) -> dict[str, str]:
    """Each of ``node_ids`` -> a key shared by the nodes of one concept (the smallest id of
    the group). Nodes are one concept when the KG says so (``kg.concept_of``) or when they
    appear together in one of ``same_mention`` (the nodes one mention was linked to). An
    approximate crosswalk (a GEM ``maps_to`` to a broader or narrower code) does not merge."""
    nodes = sorted(set(node_ids))
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    by_concept: dict[str, list[str]] = defaultdict(list)
    for n in nodes:
        by_concept[kg.concept_of(n) or n].append(n)
    for members in by_concept.values():
        graph.add_edges_from(zip(members, members[1:]))
    for group in same_mention:
        members = [n for n in group if n in graph]
        graph.add_edges_from(zip(members, members[1:]))
    return {n: min(component) for component in nx.connected_components(graph) for n in component}


def concept_codes(kg: Any, members: Iterable[str]) -> tuple[str, ...]:
    """Every code of a concept: its member nodes and the concept's own codes
    (``kg.concept_codes``)."""
    codes = set(members)
    for concept in {kg.concept_of(m) for m in codes} - {None}:
        codes.update(kg.concept_codes(concept))
    return tuple(sorted(codes))


@dataclass(frozen=True)
class KnowledgePaths:
    """Training support of the KG's nodes, for :meth:`path` (see the module docstring).

    Attributes:
        kg: the knowledge graph.
        stays_of: node id -> the training stays whose entity set holds that node.
        under: ancestor id -> the trained nodes at or below it (``is_a``, up to
            :data:`PATH_DEPTH` steps).
    """

    kg: Any
    stays_of: Mapping[str, frozenset[int]]
    under: Mapping[str, frozenset[str]]

    @classmethod
    def build(cls, kg: Any, stays_of: Mapping[str, Iterable[int]]) -> KnowledgePaths:
        """From node id -> training stays holding it (what the model was trained on)."""
        stays = {n: frozenset(int(s) for s in v) for n, v in stays_of.items() if v}
        under: dict[str, set[str]] = defaultdict(set)
        for node in stays:
            for ancestor in _ancestors(kg, node):
                under[ancestor].add(node)
        return cls(kg, stays, {a: frozenset(v) for a, v in under.items()})

    def support(self, ancestor: str, node: str) -> tuple[int, int]:
        """(training stays, codes) that carry ``ancestor`` through a code other than ``node``."""
        others = self.under.get(ancestor, frozenset()) - {node}
        return len(frozenset().union(*(self.stays_of[o] for o in others))), len(others)

    def path(self, node_id: str) -> str:
        """``name (N training stays) → parent → ancestor (M training stays via K other
        codes)``: the nearest ``is_a`` ancestor with support from other codes (most stays
        among equally near ones)."""
        own = len(self.stays_of.get(node_id, ()))
        head = f"{self.kg.node(node_id).name} ({_count(own, 'training stay')})"
        parent: dict[str, str] = {}
        frontier, seen = [node_id], {node_id}
        for _ in range(PATH_DEPTH):
            level = sorted({a for n in frontier for _, a in self.kg.neighbors(n, "is_a")} - seen)
            for n in frontier:
                for _, a in self.kg.neighbors(n, "is_a"):
                    parent.setdefault(a, n)
            scored = [(self.support(a, node_id), a) for a in level]
            best = max((s for s in scored if s[0][0] > 0), key=lambda s: (s[0][0], s[1]),
                       default=None)
            if best is not None:
                (stays, codes), ancestor = best
                chain = [ancestor]
                while parent[chain[-1]] != node_id:
                    chain.append(parent[chain[-1]])
                names = [self.kg.node(a).name for a in reversed(chain)]
                return (" → ".join([head, *names])
                        + f" ({_count(stays, 'training stay')} via {_count(codes, 'other code')})")
            seen.update(level)
            frontier = level
            if not frontier:
                break
        return f"{head}; no is_a ancestor within {PATH_DEPTH} steps shared with training stays"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _ancestors(kg: Any, node_id: str) -> set[str]:
    """The node and its ``is_a`` ancestors up to :data:`PATH_DEPTH` steps."""
    found, frontier = {node_id}, {node_id}
    for _ in range(PATH_DEPTH):
        frontier = {a for n in frontier for _, a in kg.neighbors(n, "is_a")} - found
        found |= frontier
    return found
