"""Words that are never a KG term: what the lexicon and the name index both refuse.

A vocabulary surface that is an English function word or a very common word of notes
("was", "all", "can": HGNC gene symbols, lower-cased) would otherwise match in nearly every
note. The list is scikit-learn's ``ENGLISH_STOP_WORDS`` (scikit-learn is a dependency of
realm) plus common note words that name a node in some packaged vocabulary.
"""

from __future__ import annotations

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = ["STOP_SURFACES", "is_stop_surface"]

STOP_SURFACES: frozenset[str] = frozenset(ENGLISH_STOP_WORDS) | frozenset({
    "was", "has", "had", "can", "all", "not", "did", "may", "will", "day", "per", "large",
    "small", "left", "right", "high", "low", "good", "stable", "time", "today", "plan", "note",
    "home", "care", "bed",
})


def is_stop_surface(text: str) -> bool:
    """True when ``text`` as a whole (case-folded, spaces collapsed) is a stop word or a very
    common word: such a surface is never a term, whatever node it names."""
    return " ".join(text.split()).casefold() in STOP_SURFACES
