"""A learned decision over BioCreative VIII candidates: which (observation, id) pairs to code.

The trained lexicon extractor (:mod:`realm.bench.bc8.expansion`) decides with fixed rules: a
(surface, id) pair right less than half the time on the training texts is dropped, one
surface keeps its most-preferred id. Normalization F1 rewards coding an id whenever it is
right more often than about F1/2 of the time, and the evidence for an id is more than its
surface: how its contiguous, bag or coordination match fares, how often the id is coded under
the observation's header (``EYES:``, ``MOUTH:``...), whether a more specific candidate stands
beside it. :class:`Reranker` learns that decision:

1. a *permissive* extractor (no precision filter, no id preference, every bag) proposes
   candidates; each (observation, id) pair becomes one row of features (see
   :func:`candidate_features`) computed from counts over the extractor's own training texts;
2. the rows are labelled by cross-fitting: the training observations are cut in ``folds``
   parts, each part is annotated by an extractor trained on the others, so the features of
   a labelled row look like those of an unseen note;
3. a gradient-boosted classifier is fitted on the rows, and the probability threshold that
   maximizes F1 over the out-of-fold training rows (counting gold findings no candidate
   proposes as misses) is kept.

Nothing here reads a knowledge graph: ``ancestors`` (id -> its strict ``is_a`` ancestors) is
passed in by the caller (:mod:`realm.bench.bc8.benchmark`).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from realm.errors import ExtractionError, RealmError
from realm.bench.bc8.data import Observation
from realm.extract.lexicon import Term, norm_key
from realm.bench.bc8.loose import LooseMatcher
from realm.extract.lexicon_extractor import Annotation, LexiconExtractor
from realm.records import Assertion, Mention

__all__ = ["Candidate", "CandidateStats", "Reranker", "candidate_features", "group_candidates", "best_threshold"]

Resolver = Callable[[str], str]
Ancestors = Callable[[str], frozenset[str]]

#: Term sources and match steps, one-hot encoded in that order (unknown ones -> all zero).
SOURCES: tuple[str, ...] = (
    "name",
    "synonym",
    "learned",
    "organ",
    "substituted",
    "compound",
    "normal_only",
    "normal_anatomy",
    "abbreviation",
)
VIAS: tuple[str, ...] = ("lexicon", "coordination", "bag", "loose")


def header_of(text: str) -> str:
    """The observation's organ-system header (``EYES`` of ``EYES: ...``), or ``""``."""
    head, sep, _ = text.partition(":")
    return norm_key(head) if sep and len(head) <= 40 else ""


class CandidateGenerator:
    """A permissive lexicon extractor, plus loose matches (:mod:`realm.bench.bc8.loose`)
    of its lexicon for ids the extractor does not find in the note."""

    def __init__(
        self, extractor: LexiconExtractor, *, loose: bool = True, drop: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        """``drop``: (normalized surface, id) pairs never proposed as loose matches."""
        self.extractor = extractor
        self.loose = LooseMatcher(extractor.lexicon) if loose else None
        self.drop = drop

    def without(self, drop: set[tuple[str, str]]) -> CandidateGenerator:
        """The same generator, less the loose (surface, id) pairs in ``drop``."""
        new = CandidateGenerator.__new__(CandidateGenerator)
        new.extractor, new.loose, new.drop = self.extractor, self.loose, self.drop | frozenset(drop)
        return new

    def annotate(self, text: str) -> list[Annotation]:
        """The extractor's annotations, then the loose ones."""
        found = self.extractor.annotate(text)
        if self.loose is None:
            return found
        named = {a.mention.node_id for a in found}
        sections = self.extractor.sections.sections(text)
        extra: list[tuple[tuple[tuple[int, int], ...], Term, str | None, Assertion | None]] = []
        for section in sections:
            for m in self.loose.match(text, [section.body]):
                if m.term.node_id in named or (m.term.section is not None and m.term.section != section.name):
                    continue
                if (norm_key(m.term.text), m.term.node_id) in self.drop:
                    continue
                named.add(m.term.node_id)
                extra.append((m.spans, m.term, section.name, section.assertion))
        context = self.extractor.context
        hits = context.assert_spans(text, [(s[0][0], s[-1][1]) for s, *_ in extra]) if context else [None] * len(extra)
        for (spans, term, section_name, default), hit in zip(extra, hits):
            if term.assertion is not None:
                assertion, cue = term.assertion, None
            elif hit is not None:
                assertion, cue = hit.assertion, hit.trigger
            else:
                assertion, cue = default or Assertion.PRESENT, None
            mention = Mention(
                text=" ".join(text[s:e] for s, e in spans),
                spans=spans,
                type=term.type,
                assertion=assertion,
                section=section_name,
                extractor="lexicon",
                node_id=term.node_id,
                link_score=1.0,
            )
            found.append(Annotation(mention, cue, term, "loose"))
        return found


#: Builds the candidate generator from training observations.
ExtractorBuilder = Callable[[Sequence[Observation]], CandidateGenerator]


@dataclass(frozen=True)
class Candidate:
    """Every annotation of one id in one observation."""

    node_id: str
    annotations: tuple[Annotation, ...]


def group_candidates(annotations: Sequence[Annotation]) -> list[Candidate]:
    """Annotations with a term, grouped by id in first-seen order."""
    groups: dict[str, list[Annotation]] = {}
    for ann in annotations:
        if ann.term is not None and ann.mention.node_id is not None:
            groups.setdefault(ann.mention.node_id, []).append(ann)
    return [Candidate(node_id, tuple(anns)) for node_id, anns in groups.items()]


def _gold_ids(obs: Observation, resolve: Resolver) -> set[str]:
    out = set()
    for f in obs.findings:
        try:
            out.add(resolve(f.term))
        except RealmError:  # an id the KG does not know can never be proposed
            continue
    return out


def _term(ann: Annotation) -> Term:
    """The term that produced ``ann``; candidates are grouped from annotations with one."""
    if ann.term is None:
        raise ExtractionError(f"annotation of node {ann.mention.node_id} via {ann.via} has no term to score")
    return ann.term


def _pair(ann: Annotation) -> tuple[str, str, str]:
    term = _term(ann)
    return (ann.via, norm_key(term.text), term.node_id)


@dataclass
class CandidateStats:
    """Counts over annotated training texts that the features are read from."""

    pair_hits: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    pair_right: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    source_hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    source_right: Counter[tuple[str, str]] = field(default_factory=Counter)
    id_hits: Counter[str] = field(default_factory=Counter)
    id_right: Counter[str] = field(default_factory=Counter)
    id_gold: Counter[str] = field(default_factory=Counter)
    header_gold: Counter[tuple[str, str]] = field(default_factory=Counter)
    header_n: Counter[str] = field(default_factory=Counter)
    n_observations: int = 0

    @classmethod
    def collect(cls, extractor: CandidateGenerator, observations: Sequence[Observation], resolve: Resolver) -> CandidateStats:
        """Run ``extractor`` over ``observations`` and count hits against their gold."""
        stats = cls(n_observations=len(observations))
        for obs in observations:
            gold = _gold_ids(obs, resolve)
            header = header_of(obs.text)
            stats.header_n[header] += 1
            for node_id in gold:
                stats.id_gold[node_id] += 1
                stats.header_gold[(header, node_id)] += 1
            for cand in group_candidates(extractor.annotate(obs.text)):
                ok = cand.node_id in gold
                stats.id_hits[cand.node_id] += 1
                stats.id_right[cand.node_id] += ok
                for ann in cand.annotations:
                    source = (ann.via, _term(ann).source)
                    stats.pair_hits[_pair(ann)] += 1
                    stats.pair_right[_pair(ann)] += ok
                    stats.source_hits[source] += 1
                    stats.source_right[source] += ok
        return stats

    def source_precision(self, ann: Annotation) -> float:
        """Precision of the annotation's (step, term source) over the training texts."""
        key = (ann.via, _term(ann).source)
        return (self.source_right[key] + 1.0) / (self.source_hits[key] + 2.0)

    def pair_precision(self, ann: Annotation, strength: float = 2.0) -> float:
        """The (step, surface, id) pair's precision, smoothed toward its source's."""
        key = _pair(ann)
        return (self.pair_right[key] + strength * self.source_precision(ann)) / (self.pair_hits[key] + strength)


def _one_hot(value: str, values: tuple[str, ...]) -> list[float]:
    return [1.0 if value == v else 0.0 for v in values]


def candidate_features(
    cand: Candidate, others: Sequence[Candidate], text: str, stats: CandidateStats, ancestors: Ancestors
) -> list[float]:
    """One row of features for a candidate among ``others`` (all candidates of its
    observation, itself included)."""
    best = max(cand.annotations, key=stats.pair_precision)
    node_id = cand.node_id
    header = header_of(text)
    n_header = stats.header_n[header]
    other_ids = [c.node_id for c in others if c.node_id != node_id]
    mine = ancestors(node_id)
    # the same words naming other ids too (``ear pit``: preauricular or auricular pit)
    spans = {s for a in cand.annotations for s in a.mention.spans}
    rivals = [c for c in others if c.node_id != node_id and any(s in spans for a in c.annotations for s in a.mention.spans)]
    rival_best = max((stats.pair_precision(a) for c in rivals for a in c.annotations), default=0.0)
    words = len(norm_key(_term(best).text).split())
    overlapped = any(
        a < e and s < b for c in others if c.node_id != node_id for o in c.annotations for s, e in o.mention.spans for a, b in spans
    )
    return [
        stats.pair_precision(best),
        math.log1p(stats.pair_hits[_pair(best)]),
        stats.source_precision(best),
        (stats.id_right[node_id] + 1.0) / (stats.id_hits[node_id] + 2.0),
        math.log1p(stats.id_hits[node_id]),
        math.log1p(stats.id_gold[node_id]),
        (stats.header_gold[(header, node_id)] + 0.1) / (n_header + 1.0),
        math.log1p(n_header),
        float(best.mention.assertion is Assertion.NEGATED),
        float(len(cand.annotations)),
        float(words),
        float(len(best.mention.spans)),
        float(any(node_id in ancestors(o) for o in other_ids)),  # a more specific one stands beside it
        float(any(o in mine for o in other_ids)),  # it refines another candidate
        float(len(rivals)),
        rival_best,
        float(len(others)),
        float(overlapped),
        *_one_hot(best.via, VIAS),
        *_one_hot(best.term.source, SOURCES),
    ]


def best_threshold(scores: Sequence[float], labels: Sequence[bool], n_gold: int) -> float:
    """The score threshold maximizing F1 of keeping rows scored at or above it, where
    ``n_gold`` counts every gold finding (proposed or not)."""
    order = sorted(zip(scores, labels), key=lambda x: -x[0])
    best_f1, best_t, tp = -1.0, 0.5, 0
    for k, (score, label) in enumerate(order, start=1):
        tp += label
        f1 = 2 * tp / (k + n_gold) if n_gold else 0.0
        if f1 > best_f1 and (k == len(order) or order[k][0] < score):
            best_f1, best_t = f1, score
    return best_t


def _folds(observations: Sequence[Observation], k: int, seed: int) -> list[tuple[list[Observation], list[Observation]]]:
    ids = sorted({o.string_id for o in observations})
    random.Random(seed).shuffle(ids)
    part = {sid: i % k for i, sid in enumerate(ids)}
    return [
        ([o for o in observations if part[o.string_id] != f], [o for o in observations if part[o.string_id] == f])
        for f in range(k)
    ]


@dataclass
class Reranker:
    """A permissive extractor, its training counts, a classifier and a threshold."""

    extractor: CandidateGenerator
    stats: CandidateStats
    model: object
    threshold: float
    ancestors: Ancestors

    @classmethod
    def train(
        cls,
        build: ExtractorBuilder,
        train: Sequence[Observation],
        *,
        resolve: Resolver,
        ancestors: Ancestors,
        folds: int = 4,
        seed: int = 1,
    ) -> Reranker:
        """Cross-fit candidate rows on ``train``, fit the classifier, pick the threshold."""
        from sklearn.ensemble import HistGradientBoostingClassifier  # heavy import, only when training

        rows: list[list[float]] = []
        labels: list[bool] = []
        groups: list[int] = []
        n_gold = 0
        for f, (fit, held) in enumerate(_folds(train, folds, seed)):
            extractor = build(fit)
            stats = CandidateStats.collect(extractor, fit, resolve)
            for obs in held:
                gold = _gold_ids(obs, resolve)
                n_gold += len(gold)
                cands = group_candidates(extractor.annotate(obs.text))
                for cand in cands:
                    rows.append(candidate_features(cand, cands, obs.text, stats, ancestors))
                    labels.append(cand.node_id in gold)
                    groups.append(f)
        # out-of-fold scores for the threshold: each fold scored by a model fitted on the others
        scores = [0.0] * len(rows)
        for f in range(folds):
            fit_rows = [i for i, g in enumerate(groups) if g != f]
            held_rows = [i for i, g in enumerate(groups) if g == f]
            model = _classifier(HistGradientBoostingClassifier).fit([rows[i] for i in fit_rows], [labels[i] for i in fit_rows])
            for i, p in zip(held_rows, model.predict_proba([rows[i] for i in held_rows])[:, 1]):
                scores[i] = float(p)
        threshold = best_threshold(scores, labels, n_gold)
        model = _classifier(HistGradientBoostingClassifier).fit(rows, labels)
        extractor = build(train)
        return cls(extractor, CandidateStats.collect(extractor, train, resolve), model, threshold, ancestors)

    def score(self, text: str) -> list[tuple[Candidate, float]]:
        """Every candidate of ``text`` with its probability of being coded."""
        cands = group_candidates(self.extractor.annotate(text))
        if not cands:
            return []
        rows = [candidate_features(c, cands, text, self.stats, self.ancestors) for c in cands]
        return list(zip(cands, (float(p) for p in self.model.predict_proba(rows)[:, 1])))  # type: ignore[attr-defined]

    def __call__(self, text: str) -> list[Annotation]:
        """The best annotation of each candidate scored at or above the threshold."""
        return [
            max(c.annotations, key=self.stats.pair_precision) for c, p in self.score(text) if p >= self.threshold
        ]


def _classifier(cls: type) -> object:
    """The candidate classifier: small boosted trees (a few thousand rows)."""
    return cls(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20, l2_regularization=1.0, random_state=0)

