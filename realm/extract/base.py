"""The extractor protocol: text in, grounded mentions out.

Every extractor (the offline lexicon, an LLM, an ensemble) answers the same call, so the
pipeline and the benchmarks can swap them by name. Mentions must be grounded: their spans
index into the text and cover ``Mention.text`` (:func:`check_mentions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from realm.records import Mention

__all__ = ["Extractor", "check_mentions"]


@runtime_checkable
class Extractor(Protocol):
    """Finds entity mentions in one note."""

    #: short name recorded in ``Mention.extractor`` ("lexicon", "llm", "ensemble")
    name: str

    def extract(self, text: str, *, note_id: str | None = None, stay_id: int | None = None) -> list[Mention]:
        """Every mention in ``text``, grounded in it, in text order."""
        ...


def check_mentions(mentions: Iterable[Mention], text: str) -> list[Mention]:
    """The mentions as a list; raises :class:`~realm.errors.ExtractionError` on the first
    one that is not grounded in ``text`` (the message holds no note text)."""
    out = list(mentions)
    for mention in out:
        mention.check_grounded(text)
    return out
