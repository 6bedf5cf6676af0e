"""How often a dictionary hit is what annotators coded: per-pair counts learned on training text.

BioCreative VIII annotators code some dictionary hits and not others, and when one surface
names several HPO terms (``ear pit``: *Preauricular pit*, *Auricular pit*) they code one.
:func:`pair_stats` runs an extractor over annotated observations and counts, per
(normalized surface, id) pair, its hits and how many of them the observation's gold holds.
:class:`TermPreference` turns the counts into a smoothed precision with a backoff for pairs
never seen: the precision of the term's source (HPO name, synonym, learned surface, organ
form...) over the same text, weighted as ``strength`` pseudo-hits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from realm.errors import RealmError
from realm.bench.bc8.data import Observation
from realm.extract.lexicon import Term, norm_key
from realm.extract.lexicon_extractor import LexiconExtractor

__all__ = ["PairStats", "pair_stats", "TermPreference"]

Resolver = Callable[[str], str]
Pair = tuple[str, str]


@dataclass
class PairStats:
    """Hits and right hits per (normalized surface, node id) pair and per term source."""

    hits: Counter[Pair] = field(default_factory=Counter)
    right: Counter[Pair] = field(default_factory=Counter)
    source_hits: Counter[str] = field(default_factory=Counter)
    source_right: Counter[str] = field(default_factory=Counter)

    def low_precision(self, min_precision: float, min_count: int = 1) -> set[Pair]:
        """Pairs with at least ``min_count`` hits, right less than ``min_precision`` of the time."""
        return {k for k, n in self.hits.items() if n >= min_count and self.right[k] / n < min_precision}


def pair_stats(
    extractor: LexiconExtractor,
    observations: Sequence[Observation],
    *,
    resolve: Resolver,
    via: tuple[str, ...] = ("lexicon", "coordination"),
) -> PairStats:
    """Count the extractor's hits on ``observations`` made ``via`` those steps (a bag and a
    contiguous match of one term are right at different rates, so they are counted apart)."""
    stats = PairStats()
    for obs in observations:
        gold = set()
        for f in obs.findings:
            try:
                gold.add(resolve(f.term))
            except RealmError:  # unknown gold id: it can never be matched
                continue
        for ann in extractor.annotate(obs.text):
            if ann.term is None or ann.via not in via:
                continue
            key, ok = (norm_key(ann.term.text), ann.term.node_id), ann.term.node_id in gold
            stats.hits[key] += 1
            stats.right[key] += ok
            stats.source_hits[ann.term.source] += 1
            stats.source_right[ann.term.source] += ok
    return stats


@dataclass(frozen=True)
class TermPreference:
    """``term -> (right + strength * source precision) / (hits + strength)``."""

    stats: PairStats
    strength: float = 2.0
    default: float = 0.5

    def __call__(self, term: Term) -> float:
        """The term's smoothed training precision (its source's precision when unseen)."""
        n_src = self.stats.source_hits[term.source]
        prior = self.stats.source_right[term.source] / n_src if n_src else self.default
        key = (norm_key(term.text), term.node_id)
        return (self.stats.right[key] + self.strength * prior) / (self.stats.hits[key] + self.strength)
