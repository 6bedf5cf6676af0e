"""Several extractors, one answer: merge overlapping mentions, vote, keep provenance.

Mentions of different extractors are *the same entity* when their spans overlap and their
types are compatible (a disease and a phenotype name the same thing in different KGs; a
drug and a drug class too) and, if both are already linked, they name the same node.

Modes decide which merged entities survive:

- ``union``: every entity any extractor found;
- ``vote``: entities found by at least ``min_votes`` extractors;
- ``confidence``: entities whose combined confidence (noisy-or of the members' confidences,
  ``1 - prod(1 - c)``) reaches ``min_confidence``.

The merged mention takes its span, type and node from the highest-priority member (the
order of ``extractors``) and its assertion by majority vote; ties go to the more cautious
assertion (negated > hypothetical > family > historical > present), so a negated entity
never turns into a present one because two extractors disagreed.
``Mention.extractor`` records who found it, e.g. ``"ensemble:lexicon+llm"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

from realm.errors import ConfigError
from realm.extract.base import Extractor, check_mentions
from realm.records import Assertion, Mention

__all__ = ["EnsembleExtractor", "merge_mentions", "ASSERTION_PRECEDENCE", "TYPE_GROUPS", "extract_all"]

MODES = ("union", "vote", "confidence")
#: Most cautious first: on a tie the earlier assertion wins.
ASSERTION_PRECEDENCE: tuple[Assertion, ...] = (
    Assertion.NEGATED,
    Assertion.HYPOTHETICAL,
    Assertion.FAMILY,
    Assertion.HISTORICAL,
    Assertion.PRESENT,
)
#: Types that may name the same entity.
TYPE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"disease", "phenotype", "lab_finding"}),
    frozenset({"drug", "drug_class"}),
)


def _compatible_types(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in TYPE_GROUPS)


def _overlap(a: Mention, b: Mention) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a.spans for s2, e2 in b.spans)


def _same_entity(a: Mention, b: Mention) -> bool:
    if a.node_id is not None and b.node_id is not None and a.node_id != b.node_id:
        return False
    return _compatible_types(a.type, b.type) and _overlap(a, b)


def _clusters(tagged: list[tuple[int, Mention]]) -> list[list[tuple[int, Mention]]]:
    """Connected groups of same-entity mentions (union-find over overlapping pairs)."""
    parent = list(range(len(tagged)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(tagged)), key=lambda i: tagged[i][1].spans[0])
    for pos, i in enumerate(order):
        end_i = max(e for _, e in tagged[i][1].spans)
        for j in order[pos + 1 :]:
            if min(s for s, _ in tagged[j][1].spans) >= end_i and len(tagged[j][1].spans) == 1 and len(tagged[i][1].spans) == 1:
                break  # sorted by start: nothing later can overlap a contiguous mention
            if tagged[i][0] != tagged[j][0] and _same_entity(tagged[i][1], tagged[j][1]):
                parent[root(j)] = root(i)
    groups: dict[int, list[tuple[int, Mention]]] = {}
    for i in range(len(tagged)):
        groups.setdefault(root(i), []).append(tagged[i])
    return list(groups.values())


def _vote_assertion(members: Sequence[Mention]) -> Assertion:
    counts = Counter(m.assertion for m in members)
    top = max(counts.values())
    return next(a for a in ASSERTION_PRECEDENCE if counts.get(a, 0) == top)


def merge_mentions(
    per_extractor: Sequence[Sequence[Mention]],
    names: Sequence[str],
    *,
    mode: str = "union",
    min_votes: int = 2,
    min_confidence: float = 0.5,
) -> list[Mention]:
    """Merge the mentions each extractor found in one note (see the module docstring)."""
    if mode not in MODES:
        raise ConfigError(f"ensemble mode must be one of {MODES}, got {mode!r}")
    if len(per_extractor) != len(names):
        raise ConfigError("merge_mentions needs one name per extractor")
    tagged = [(rank, m) for rank, mentions in enumerate(per_extractor) for m in mentions]
    out = []
    for cluster in _clusters(tagged):
        ranks = sorted({rank for rank, _ in cluster})
        members = [m for _, m in cluster]
        combined = 1.0 - math.prod(1.0 - min(max(m.confidence, 0.0), 1.0) for m in members)
        if mode == "vote" and len(ranks) < min_votes:
            continue
        if mode == "confidence" and combined < min_confidence:
            continue
        best = min(cluster, key=lambda rm: (rm[0], rm[1].spans))[1]
        node = best.node_id if best.node_id is not None else next((m.node_id for m in members if m.node_id), None)
        score = best.link_score if best.node_id is not None else next(
            (m.link_score for m in members if m.node_id == node and node is not None), None)
        out.append(dataclasses.replace(
            best,
            assertion=_vote_assertion(members),
            extractor="ensemble:" + "+".join(names[r] for r in ranks),
            confidence=round(combined, 4),
            node_id=node,
            link_score=score,
        ))
    return sorted(out, key=lambda m: (m.spans, m.type))


def extract_all(
    extractor: Extractor,
    texts: Sequence[str],
    note_ids: Sequence[str | None],
    stay_ids: Sequence[int | None],
) -> list[list[Mention]]:
    """Every note through ``extractor``, batched when it offers ``extract_many`` (the LLM)."""
    many = getattr(extractor, "extract_many", None)
    if callable(many):
        return many(texts, note_ids=note_ids, stay_ids=stay_ids)
    return [extractor.extract(t, note_id=n, stay_id=s) for t, n, s in zip(texts, note_ids, stay_ids, strict=True)]


class EnsembleExtractor:
    """Runs several extractors and merges their mentions; see :func:`merge_mentions`."""

    name = "ensemble"

    def __init__(
        self,
        extractors: Sequence[Extractor],
        mode: str = "union",
        min_votes: int = 2,
        min_confidence: float = 0.5,
    ) -> None:
        if not extractors:
            raise ConfigError("an ensemble needs at least one extractor")
        if mode not in MODES:
            raise ConfigError(f"ensemble mode must be one of {MODES}, got {mode!r}")
        if mode == "vote" and not 1 <= min_votes <= len(extractors):
            raise ConfigError(f"min_votes={min_votes} must lie in [1, {len(extractors)}]")
        self.extractors = list(extractors)
        self.names = [e.name for e in self.extractors]
        self.mode, self.min_votes, self.min_confidence = mode, min_votes, min_confidence

    def _merge(self, per_extractor: Sequence[Sequence[Mention]], text: str) -> list[Mention]:
        merged = merge_mentions(per_extractor, self.names, mode=self.mode, min_votes=self.min_votes,
                                min_confidence=self.min_confidence)
        return check_mentions(merged, text)

    def extract(self, text: str, *, note_id: str | None = None, stay_id: int | None = None) -> list[Mention]:
        """Merged mentions of one note, in text order."""
        return self._merge([e.extract(text, note_id=note_id, stay_id=stay_id) for e in self.extractors], text)

    def extract_many(
        self,
        texts: Sequence[str],
        *,
        note_ids: Sequence[str | None] | None = None,
        stay_ids: Sequence[int | None] | None = None,
    ) -> list[list[Mention]]:
        """Merged mentions of many notes; each member sees all notes at once (LLM batching)."""
        note_ids = list(note_ids) if note_ids is not None else [None] * len(texts)
        stay_ids = list(stay_ids) if stay_ids is not None else [None] * len(texts)
        runs = [extract_all(e, texts, note_ids, stay_ids) for e in self.extractors]
        return [self._merge([run[i] for run in runs], text) for i, text in enumerate(texts)]
