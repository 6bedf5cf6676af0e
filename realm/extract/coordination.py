"""Findings hidden in coordinations: one modifier or one head shared by two words.

Exam notes pack findings: ``sparse eyelashes and eyebrows`` is *Sparse eyelashes* and
*Sparse eyebrows*; ``wide and flat nasal bridge`` is *Depressed nasal bridge* and *Wide
nasal bridge*. The lexicon finds one conjunct; this module rebuilds the other by swapping
the conjunct word into the matched surface and looking the result up. The new finding is
discontinuous (``sparse`` + ``eyebrows``), the way BioCreative VIII annotates it. Only
single-word conjuncts joined by ``and``/``or``/``/`` inside one phrase are tried.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from realm.extract.lexicon import Lexicon, NormalizedText, Term, crosses_break

__all__ = ["Coordinated", "coordinated_matches"]

_CONJUNCTIONS = frozenset({"and", "or"})


@dataclass(frozen=True)
class Coordinated:
    """A finding rebuilt from a coordination: its spans in the text and its terms."""

    spans: tuple[tuple[int, int], ...]
    terms: tuple[Term, ...]


def _joined(nt: NormalizedText, tokens: list[str], text: str, left: int, right: int) -> bool:
    """True when tokens ``left`` and ``right`` (= left + 1 or + 2) are joined by a conjunction
    within one phrase: ``left and right``, ``left or right`` or ``left/right``."""
    if crosses_break(text, nt.starts[left], nt.ends[right]):
        return False
    if right == left + 2:
        return tokens[left + 1] in _CONJUNCTIONS
    return right == left + 1 and text[nt.ends[left] : nt.starts[right]].strip() == "/"


def coordinated_matches(
    text: str,
    nt: NormalizedText,
    matches: Iterable[tuple[int, int, str | None]],
    lexicon: Lexicon,
) -> list[Coordinated]:
    """Findings of the other conjunct of each match ``(start, end, section)`` (original offsets).

    For a match of tokens ``a..b``: a word after ``b`` joined by a conjunction replaces the
    last token (shared modifier); a word before ``a`` so joined replaces the first (shared
    head). Surfaces of one word are not rebuilt.
    """
    tokens: list[str] = []
    out: list[Coordinated] = []
    for start, end, section in matches:
        a, b = bisect_left(nt.starts, start), bisect_left(nt.ends, end)
        if b <= a or nt.starts[a] != start or nt.ends[b] != end:
            continue
        tokens = tokens or nt.norm.split()
        span = lambda i, j: (nt.starts[i], nt.ends[j])  # noqa: E731 - original offsets of tokens i..j
        for gap in (1, 2):
            other = b + gap
            if other < len(tokens) and _joined(nt, tokens, text, b, other):
                terms = lexicon.lookup(" ".join(tokens[a:b] + [tokens[other]]), section=section)
                if terms:
                    out.append(Coordinated((span(a, b - 1), span(other, other)), terms))
            other = a - gap
            if other >= 0 and _joined(nt, tokens, text, other, a):
                terms = lexicon.lookup(" ".join([tokens[other]] + tokens[a + 1 : b + 1]), section=section)
                if terms:
                    out.append(Coordinated((span(other, other), span(a + 1, b)), terms))
    return out
