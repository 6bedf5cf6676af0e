"""Typo correction of note tokens towards the lexicon's vocabulary (one edit away).

Exam notes are typed fast: ``nasasl bridge``, ``hypertichosis``, ``palpebral fissues``. A
token that is neither a lexicon word nor a word known to be right (e.g. seen in training
text) is replaced by the one lexicon word at Damerau distance 1 (an insertion, deletion,
substitution or swap of neighbours), found through a symmetric-deletion index (after
Garbe's SymSpell). Short tokens, tokens with digits and ambiguous corrections are left as
they are, so the matcher never guesses between two words; so is the first letter, where one
edit makes another word (``symmetry`` is not a typo of ``asymmetry``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Speller", "within_one_edit"]

#: Tokens shorter than this are never corrected ("lid" -> "lip" would be a guess).
MIN_CHARS = 5
#: Distinct tokens remembered per speller before the memo is cleared.
MEMO_SIZE = 1 << 18


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one insertion, deletion, substitution or
    swap of two neighbouring characters (optimal string alignment distance <= 1)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True  # substitution
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    short, long_ = (a, b) if la < lb else (b, a)
    return short[i:] == long_[i + 1 :]


class Speller:
    """Corrects a token to the unique vocabulary word one edit away, else leaves it."""

    def __init__(self, vocabulary: Iterable[str], *, known: Iterable[str] = (), min_chars: int = MIN_CHARS) -> None:
        self.min_chars = min_chars
        self._vocabulary = frozenset(w for w in vocabulary if w.isalpha())
        self._known = frozenset(known) | self._vocabulary
        self._index: dict[str, set[str]] = {}
        for word in self._vocabulary:
            if len(word) < min_chars - 1:
                continue
            for key in _deletes(word) | {word}:
                self._index.setdefault(key, set()).add(word)
        self._memo: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._vocabulary)

    def correct(self, token: str) -> str:
        """``token`` itself when known, short, non-alphabetic or ambiguous; else its correction."""
        hit = self._memo.get(token)
        if hit is None:
            if token in self._known or len(token) < self.min_chars or not token.isalpha():
                hit = token
            else:
                hit = self._lookup(token)
            if len(self._memo) >= MEMO_SIZE:  # a bounded memo: forget all, start again
                self._memo.clear()
            self._memo[token] = hit
        return hit

    def _lookup(self, token: str) -> str:
        candidates: set[str] = set(self._index.get(token, ()))
        for key in _deletes(token):
            candidates |= self._index.get(key, set())
        # typos rarely hit the first letter, and there an edit changes the word: a/symmetry
        fits = [w for w in candidates if w[0] == token[0] and within_one_edit(token, w)]
        return fits[0] if len(fits) == 1 else token
