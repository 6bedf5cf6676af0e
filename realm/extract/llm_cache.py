"""The LLM answer cache: one JSON file per note, written atomically.

Keyed by (note text hash, model id, prompt version, schema version, chunking), it stores the
model's raw answers per chunk, not the parsed mentions: a better grounding or assertion step
re-runs over cached answers for free, while a new prompt or model misses the cache. One file
per note, written as soon as that note is answered, means an interrupted run loses at most
the notes in flight, and the next run resumes from there.

The files hold model answers, which quote note text: they live under the cache root with the
user's permissions, like the cohort itself, and are never logged.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from realm.cache import atomic_path, config_hash, stage_dir

__all__ = ["CachedNote", "AnswerCache", "text_digest"]

STAGE = "llm_answers"


def text_digest(text: str) -> str:
    """SHA-256 of a note's text (the note's identity in the cache, whatever its id)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedNote:
    """The raw answers for one note: per chunk, its span and the answer text (None: the
    model's answer stayed unusable after the repair attempt)."""

    chunks: tuple[tuple[int, int], ...]
    answers: tuple[str | None, ...]
    mode: str  # "tools" or "json": how the answers were produced


class AnswerCache:
    """A folder of per-note answer files for one (model, prompt, schema, chunking) setting."""

    def __init__(self, settings: dict[str, object], root: str | os.PathLike | None = None) -> None:
        self.key = config_hash(settings)
        self.directory = stage_dir(STAGE, self.key, root)

    def _file(self, text: str) -> Path:
        digest = text_digest(text)
        return self.directory / digest[:2] / f"{digest}.json"

    def get(self, text: str) -> CachedNote | None:
        """The cached answers for ``text``, or None (also for an unreadable file)."""
        path = self._file(text)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return CachedNote(
                tuple((int(s), int(e)) for s, e in data["chunks"]),
                tuple(data["answers"]),
                str(data["mode"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a corrupt entry is a miss; the next put overwrites it

    def put(self, text: str, note: CachedNote) -> None:
        """Store ``note``'s answers for ``text`` atomically."""
        payload = {"chunks": [list(c) for c in note.chunks], "answers": list(note.answers), "mode": note.mode}
        with atomic_path(self._file(text)) as tmp:
            tmp.write_text(json.dumps(payload), encoding="utf-8")

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json")) if self.directory.is_dir() else 0
