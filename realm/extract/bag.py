"""Bag-of-words matches: a term's content words in any order within one phrase.

Exam notes put a finding's words in whatever order the sentence takes: ``thumbs are long``
is *Long thumb*, ``clonus at the left ankle`` is *Ankle clonus*, ``palpebral fissures with
slight upslant`` is *Upslanted palpebral fissure*. The lexicon only matches contiguous
surfaces; :class:`BagMatcher` finds a term of two or more content words whose words all
occur (stemmed, spelling-corrected) inside one phrase — no phrase-ending punctuation
between them — within a window at most ``slack`` words longer than the term. Function
words (``of``, ``the``, ``with``...) are not content words. The finding is discontinuous,
spanning just the matched words, the way BioCreative VIII annotates such findings.

Which bags are right is learned, not assumed: the trainer (:mod:`realm.bench.bc8.expansion`)
drops (surface, id) pairs that are usually wrong on the training texts.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from realm.extract.lexicon import Lexicon, NormalizedText, Term, norm_key

__all__ = ["Bag", "BagMatcher", "FUNCTION_WORDS"]

#: Words that carry no finding (after stemming): a bag ignores them in terms and notes.
FUNCTION_WORDS = frozenset(
    "a an the of to in on at by for from with and or is are wa were be been ha have appear "
    "appearing there that this which".split()
)
#: Phrase-ending punctuation between two tokens (as in :func:`realm.extract.lexicon.crosses_break`).
_BREAK = re.compile(r"[;:!?()\[\]]|[.,](?!\d)")


@dataclass(frozen=True)
class Bag:
    """A bag match: the matched words' spans (merged when adjacent) and the term."""

    spans: tuple[tuple[int, int], ...]
    term: Term
    section_index: int


class BagMatcher:
    """Finds lexicon terms of >= 2 content words whose words all occur in one phrase."""

    def __init__(
        self,
        lexicon: Lexicon,
        *,
        slack: int = 3,
        drop: Iterable[tuple[str, str]] = (),
        known: Iterable[str] = (),
    ) -> None:
        """Bags of ``lexicon``'s terms, less the (normalized surface, id) pairs in ``drop``.

        ``known``: normalized surfaces the contiguous matcher owns (e.g. every surface of the
        lexicon before its precision filter); a bag whose words read as one of them, in text
        order, is left to that matcher, so a bag never brings back a surface the filter
        dropped (``cleft palate`` found as *Cleft of palate*).
        """
        self.slack = slack
        self.known = frozenset(_content(k) for k in known) | frozenset(_content(t.text) for t in lexicon.terms())
        bags: dict[frozenset[str], list[tuple[Term, str]]] = {}
        for term in lexicon.terms():
            # organ-scoped forms are already stripped of their organ word: too weak to scatter
            if term.case_sensitive or term.source == "organ":
                continue
            words = _content(term.text).split()
            if len(words) < 2 or len(set(words)) != len(words):
                continue
            bags.setdefault(frozenset(words), []).append((term, norm_key(term.text)))
        self._index(bags, frozenset(drop))

    def _index(self, bags: dict[frozenset[str], list[tuple[Term, str]]], drop: frozenset[tuple[str, str]]) -> None:
        """Index every bag under its rarest word, so a phrase only tries bags it may hold."""
        self._bags = {b: [(t, k) for t, k in terms if (k, t.node_id) not in drop] for b, terms in bags.items()}
        self._bags = {b: terms for b, terms in self._bags.items() if terms}
        df = Counter(w for bag in self._bags for w in bag)
        self._vocabulary = frozenset(df)  # words no bag holds never matter
        # rarest word -> second rarest word -> bags: a phrase tries only bags whose two
        # rarest words it holds
        self._by_word: dict[str, dict[str, list[tuple[frozenset[str], tuple[Term, ...]]]]] = {}
        for bag, terms in self._bags.items():
            first, second = sorted(bag, key=lambda w: (df[w], w))[:2]
            self._by_word.setdefault(first, {}).setdefault(second, []).append((bag, tuple(t for t, _ in terms)))

    def terms(self) -> Iterable[Term]:
        """Every term the matcher may find as a bag."""
        for terms in self._bags.values():
            for term, _ in terms:
                yield term

    def without(self, drop: Iterable[tuple[str, str]]) -> BagMatcher:
        """The same matcher without the (normalized surface, node id) pairs in ``drop``."""
        new = BagMatcher.__new__(BagMatcher)
        new.slack, new.known = self.slack, self.known
        new._index(self._bags, frozenset(drop))
        return new

    def match(self, text: str, nt: NormalizedText, regions: Sequence[tuple[int, int, str | None]]) -> list[Bag]:
        """Bags in the section bodies ``regions`` ``(start, end, section)`` of ``text``."""
        tokens = nt.norm.split()
        out: list[Bag] = []
        for index, where in _phrases(text, nt, tokens, regions, self._vocabulary):
            out.extend(self._match_phrase(nt, tokens, where, regions[index][2], index))
        return out

    def _match_phrase(
        self, nt: NormalizedText, tokens: list[str], where: dict[str, int], section: str | None, index: int
    ) -> list[Bag]:
        out: list[Bag] = []
        candidates = []
        for word in where:
            by_second = self._by_word.get(word)
            if by_second is None:
                continue
            # walk the smaller side: the phrase's words or the bags' second words
            if len(by_second) < len(where):
                candidates += [e for second, entries in by_second.items() if second in where for e in entries]
            else:
                candidates += [e for second in where for e in by_second.get(second, ())]
        for bag, terms in candidates:
            if len(bag) > 2 and not bag <= where.keys():
                continue
            positions = sorted(where[w] for w in bag)
            if positions[-1] - positions[0] + 1 > len(bag) + self.slack:
                continue
            window = range(positions[0], positions[-1] + 1)
            if " ".join(tokens[k] for k in window if tokens[k] not in FUNCTION_WORDS) in self.known:
                continue  # the contiguous matcher owns this reading
            spans = _merged([(nt.starts[k], nt.ends[k]) for k in positions], positions)
            out.extend(Bag(spans, t, index) for t in terms if t.section is None or t.section == section)
        return out


def _content(text: str) -> str:
    """The normalized content words of ``text``, in order."""
    return " ".join(w for w in norm_key(text).split() if w not in FUNCTION_WORDS)


def _phrases(
    text: str,
    nt: NormalizedText,
    tokens: list[str],
    regions: Sequence[tuple[int, int, str | None]],
    vocabulary: frozenset[str],
) -> list[tuple[int, dict[str, int]]]:
    """``(region index, {word: first token index})`` of every phrase (tokens of one region
    with no phrase-ending punctuation between them) holding two or more ``vocabulary`` words."""
    breaks = [m.start() for m in _BREAK.finditer(text)]
    out: list[tuple[int, dict[str, int]]] = []
    starts, ends = nt.starts, nt.ends
    for index, (r_start, r_end, _) in enumerate(regions):
        cuts = [r_start, *breaks[bisect_left(breaks, r_start) : bisect_left(breaks, r_end)], r_end]
        for left, right in zip(cuts, cuts[1:]):
            first, last = bisect_left(starts, left), bisect_left(starts, right)
            while last > first and ends[last - 1] > right:  # a token running past the cut
                last -= 1
            if last - first < 2:
                continue
            where: dict[str, int] = {}
            for k in range(first, last):
                # the first occurrence of each word; one finding is rarely spread wider
                if tokens[k] in vocabulary and tokens[k] not in where:
                    where[tokens[k]] = k
            if len(where) > 1:
                out.append((index, where))
    return out


def _merged(spans: list[tuple[int, int]], positions: list[int]) -> tuple[tuple[int, int], ...]:
    """Token spans joined where their tokens are neighbours."""
    out = [list(spans[0])]
    for (s, e), prev, k in zip(spans[1:], positions, positions[1:]):
        if k == prev + 1:
            out[-1][1] = e
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)
