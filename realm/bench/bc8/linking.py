"""KG-aware decisions over BioCreative VIII findings (the wiring between extraction and the KG).

``realm.extract`` knows no knowledge graph; what needs one lives here. :class:`AncestorFilter`
drops a finding when another finding of the same observation is one of its descendants
through ``is_a`` edges: when a note yields both *Clinodactyly* and *Finger clinodactyly*,
the annotators coded the specific one.
"""

from __future__ import annotations

from collections.abc import Sequence

from realm.errors import KGError
from realm.bench.bc8.data import Finding
from realm.kg.graph import KnowledgeGraph

__all__ = ["AncestorFilter"]


class AncestorFilter:
    """Drops findings that are strict ``is_a`` ancestors of another finding's id."""

    def __init__(self, kg: KnowledgeGraph, *, relation: str = "is_a") -> None:
        self.kg = kg
        self.relation = relation
        self._ancestors: dict[str, frozenset[str]] = {}

    def ancestors(self, node_id: str) -> frozenset[str]:
        """Every strict ancestor of ``node_id`` (empty for an id the KG does not know)."""
        hit = self._ancestors.get(node_id)
        if hit is not None:
            return hit
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            current = stack.pop()
            try:
                parents = [n for r, n in self.kg.neighbors(current, self.relation)]
            except KGError:
                parents = []
            for parent in parents:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        self._ancestors[node_id] = frozenset(seen)
        return self._ancestors[node_id]

    def __call__(self, findings: Sequence[Finding]) -> list[Finding]:
        """``findings`` without those whose id is an ancestor of another finding's id."""
        covered: set[str] = set()
        for finding in findings:
            covered |= self.ancestors(finding.term)
        return [f for f in findings if f.term not in covered]
