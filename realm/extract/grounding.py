"""Positions in the note: chunks sent to the model, and entities located back in the note.

An LLM answers with strings, not offsets, and sometimes with strings the note never held.
Every entity is therefore searched in the ORIGINAL note text, inside the chunk it came
from, in three steps of decreasing trust:

1. ``exact``: the string occurs verbatim;
2. ``normalized``: it occurs up to case and whitespace (``"Acute  kidney\\ninjury"``);
3. ``fuzzy``: a window of the chunk's words is similar enough (difflib ratio >= threshold),
   which catches a dropped hyphen or a fixed typo, but not an invented entity.

Anything else is a hallucination: dropped, and counted by the caller.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from realm.errors import ConfigError

__all__ = ["Chunk", "Grounding", "chunk_text", "ground", "sentence_ends"]

_SENTENCE_END = re.compile(r"(?:[.!?;](?=\s)|\n)\s*")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """A half-open slice ``[start, end)`` of a note."""

    start: int
    end: int

    def of(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class Grounding:
    """Where an entity string was found: absolute offsets, how, and how similar (1.0 = equal)."""

    start: int
    end: int
    method: str  # exact | normalized | fuzzy
    similarity: float = 1.0


def sentence_ends(text: str) -> list[int]:
    """Offsets where a new sentence (or line) begins."""
    return [m.end() for m in _SENTENCE_END.finditer(text)]


def _cut_before(text: str, limit: int, floor: int, ends: list[int]) -> int:
    """The last sentence start in ``(floor, limit]``, else the last whitespace, else ``limit``."""
    best = max((e for e in ends if floor < e <= limit), default=None)
    if best is not None:
        return best
    space = text.rfind(" ", floor + 1, limit)
    return space + 1 if space > floor else limit


def chunk_text(text: str, max_chars: int = 4000, overlap: int = 400) -> list[Chunk]:
    """Cover ``text`` with chunks of at most ``max_chars`` that end on sentence boundaries
    where possible and overlap by about ``overlap`` characters, so an entity cut by one
    chunk's end lies whole in the next."""
    if max_chars < 50 or not 0 <= overlap < max_chars // 2:
        raise ConfigError(f"chunking needs max_chars >= 50 and 0 <= overlap < max_chars/2, got {max_chars}, {overlap}")
    if len(text) <= max_chars:
        return [Chunk(0, len(text))]
    ends = sentence_ends(text)
    chunks: list[Chunk] = []
    start = 0
    while True:
        if len(text) - start <= max_chars:
            chunks.append(Chunk(start, len(text)))
            return chunks
        end = _cut_before(text, start + max_chars, start + max_chars // 2, ends)
        chunks.append(Chunk(start, end))
        # the next chunk starts at a sentence start inside the overlap window, else at a word
        floor = max(start + 1, end - overlap)
        nxt = min((e for e in ends if floor <= e < end), default=None)
        if nxt is None:
            space = text.find(" ", floor, end)
            nxt = space + 1 if space != -1 and overlap else end
        start = max(nxt, start + 1)


def _on_word_bounds(text: str, entity: str, start: int, end: int) -> bool:
    """False when the match cuts a word ("pneumon" in "pneumonia", "AKI" in "SHAKING")."""
    if entity[0].isalnum() and start > 0 and text[start - 1].isalnum():
        return False
    return not (entity[-1].isalnum() and end < len(text) and text[end].isalnum())


def _exact(entity: str, text: str, lo: int, hi: int, taken: set[tuple[int, int]]) -> Grounding | None:
    first = None
    pos = text.find(entity, lo, hi)
    while pos != -1:
        span = (pos, pos + len(entity))
        if not _on_word_bounds(text, entity, *span):
            pos = text.find(entity, pos + 1, hi)
            continue
        if span not in taken:
            return Grounding(*span, "exact")
        first = first or Grounding(*span, "exact")
        pos = text.find(entity, pos + 1, hi)
    return first


def _normalized(entity: str, text: str, lo: int, hi: int, taken: set[tuple[int, int]]) -> Grounding | None:
    words = entity.split()
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)
    first = None
    for m in pattern.finditer(text, lo, hi):
        span = (m.start(), m.end())
        if span not in taken:
            return Grounding(*span, "normalized")
        first = first or Grounding(*span, "normalized")
    return first


def _fuzzy(entity: str, text: str, lo: int, hi: int, threshold: float) -> Grounding | None:
    target = " ".join(entity.lower().split())
    n = len(target.split())
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, lo, hi)]
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    best: Grounding | None = None
    for size in range(max(1, n - 1), n + 2):
        for i in range(0, len(words) - size + 1):
            start, end = words[i][0], words[i + size - 1][1]
            window = " ".join(text[start:end].lower().split())
            matcher.set_seq1(window)
            if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                continue
            ratio = matcher.ratio()
            if ratio >= threshold and (best is None or ratio > best.similarity):
                best = Grounding(start, end, "fuzzy", ratio)
    if best is None:
        return None
    # trim punctuation the window picked up with its words ("sepsis," -> "sepsis")
    s, e = best.start, best.end
    while e > s + 1 and not text[e - 1].isalnum() and text[e - 1] not in ")]":
        e -= 1
    while s < e - 1 and not text[s].isalnum() and text[s] not in "([":
        s += 1
    return Grounding(s, e, "fuzzy", best.similarity)


def ground(
    entity: str,
    text: str,
    chunk: Chunk | None = None,
    *,
    fuzzy_threshold: float = 0.88,
    taken: set[tuple[int, int]] | None = None,
) -> Grounding | None:
    """Locate ``entity`` in ``text`` (searching only ``chunk`` when given), or None.

    ``taken`` holds spans already given to earlier entities of the same answer, so an
    entity named twice grounds to its two occurrences rather than the first one twice.
    """
    entity = entity.strip()
    if not entity:
        return None
    lo, hi = (chunk.start, chunk.end) if chunk is not None else (0, len(text))
    taken = taken if taken is not None else set()
    return (
        _exact(entity, text, lo, hi, taken)
        or _normalized(entity, text, lo, hi, taken)
        or (_fuzzy(entity, text, lo, hi, fuzzy_threshold) if fuzzy_threshold < 1.0 else None)
    )
