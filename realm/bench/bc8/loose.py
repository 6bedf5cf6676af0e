"""Loose matches: a term's words, suffix-stripped, in any order within one phrase.

The lexicon matches stemmed plurals only; exam notes say ``longer philtrum``, ``rounded face``,
``dimpling of the chin``, ``overfolding of helix``, ``stridorous``. :class:`LooseMatcher`
strips common English suffixes from both the terms' and the note's words (:func:`strip_suffix`:
``longer`` -> ``long``, ``dimpling``/``dimple`` -> ``dimpl``) and proposes a term whose
stripped content words all occur in one phrase, within a window at most ``slack`` words longer
than the term. These are candidates, not findings: a classifier
(:mod:`realm.bench.bc8.rerank`) learns how far to trust them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from realm.extract.bag import FUNCTION_WORDS
from realm.extract.lexicon import Lexicon, Term, norm_key

__all__ = ["LooseMatch", "LooseMatcher", "strip_suffix"]

#: Longest first; a suffix is stripped only when at least ``_MIN_STEM`` letters remain.
_SUFFIXES: tuple[str, ...] = tuple(
    sorted(
        "ically ation ness ment ities ity ously ous ing edly ed ical ic ism ia ion y al er est e".split(),
        key=len,
        reverse=True,
    )
)
_MIN_STEM = 4
_BREAK = re.compile(r"[;:!?()\[\]]|[.,](?!\d)")
_WORD = re.compile(r"[a-z0-9]+")
#: Words too vague to make a loose match on their own or with one other word.
_WEAK = frozenset("abnormal abnormality normal mild mildly slight slightly bilateral left right".split())


@lru_cache(maxsize=1 << 16)
def strip_suffix(word: str) -> str:
    """``word`` (already normalized) without one common suffix; a doubled final consonant
    left behind is undoubled (``thinner`` -> ``thin``)."""
    if not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            word = word[: -len(suffix)]
            break
    if len(word) > _MIN_STEM and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def _content(text: str) -> tuple[str, ...]:
    """Suffix-stripped content words of ``text``, in order, without repeats."""
    out: list[str] = []
    for w in norm_key(text).split():
        if w not in FUNCTION_WORDS:
            s = strip_suffix(w)
            if s not in out:
                out.append(s)
    return tuple(out)


@dataclass(frozen=True)
class LooseMatch:
    """The matched words' spans (in text order) and the term."""

    spans: tuple[tuple[int, int], ...]
    term: Term


class LooseMatcher:
    """Terms found by their suffix-stripped content words within one phrase."""

    def __init__(self, lexicon: Lexicon, *, slack: int = 2) -> None:
        self.slack = slack
        index: dict[tuple[str, ...], list[Term]] = {}
        for term in lexicon.terms():
            # organ-scoped forms lack their organ word; abbreviations are case-sensitive
            # normal-only cores need the extractor's cue logic
            if term.case_sensitive or term.source in ("organ", "normal_only", "normal_anatomy"):
                continue
            words = _content(term.text)
            if not words or all(w in _WEAK for w in words) or (len(words) == 1 and len(words[0]) < 5):
                continue
            index.setdefault(tuple(sorted(words)), []).append(term)
        df = Counter(w for key in index for w in key)
        # each bag under its rarest word: a phrase tries only bags whose rarest word it holds
        self._by_word: dict[str, list[tuple[tuple[str, ...], tuple[Term, ...]]]] = {}
        for key, terms in index.items():
            rarest = min(key, key=lambda w: (df[w], w))
            self._by_word.setdefault(rarest, []).append((key, tuple(terms)))

    def match(self, text: str, regions: Sequence[tuple[int, int]]) -> list[LooseMatch]:
        """Loose matches in the ``(start, end)`` regions of ``text`` (section bodies)."""
        out: list[LooseMatch] = []
        breaks = [m.start() for m in _BREAK.finditer(text)]
        for r_start, r_end in regions:
            cuts = [r_start, *breaks[bisect_left(breaks, r_start) : bisect_left(breaks, r_end)], r_end]
            for left, right in zip(cuts, cuts[1:]):
                out.extend(self._match_phrase(text, left, right))
        return out

    def _match_phrase(self, text: str, left: int, right: int) -> list[LooseMatch]:
        words: list[tuple[str, int, int]] = []
        for m in _WORD.finditer(text.lower(), left, right):
            key = norm_key(m.group())
            if key and key not in FUNCTION_WORDS:
                words.append((strip_suffix(key), m.start(), m.end()))
        where: dict[str, int] = {}
        for k, (w, _, _) in enumerate(words):
            where.setdefault(w, k)
        out = []
        for word in where:
            for key, terms in self._by_word.get(word, ()):
                if not all(w in where for w in key):
                    continue
                positions = sorted(where[w] for w in key)
                if positions[-1] - positions[0] + 1 > len(key) + self.slack:
                    continue
                spans = tuple((words[k][1], words[k][2]) for k in positions)
                out.extend(LooseMatch(spans, t) for t in terms)
        return out


def loose_terms(matcher: LooseMatcher) -> Iterable[Term]:
    """Every term the matcher may propose (for tests and reports)."""
    for entries in matcher._by_word.values():
        for _, terms in entries:
            yield from terms
