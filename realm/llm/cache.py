"""The response cache: one JSON file per asked text, in a folder per setting, written atomically.

A caller names its stage and the settings its answers depend on (model id, prompt and schema
versions, and whatever else shapes the answer: chunking, task, shots, samples); they hash to
one folder under the cache root (realm.cache), and each text is stored under the SHA-256 of
its content. A new prompt or model therefore misses the cache, while a better reading of the
answers (grounding, voting) re-runs over cached answers for free. One file per text, written
as soon as that text is answered, means an interrupted run loses at most the texts in flight
and the next run resumes from there.

The files hold model answers, which may quote patient text: they live under the cache root
with the user's permissions, like the cohort itself, and are never logged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from realm.cache import atomic_path, config_hash, stage_dir

__all__ = ["ResponseCache", "text_digest"]


def text_digest(text: str) -> str:
    """SHA-256 of a text (its identity in the cache, whatever its id)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """A folder of per-text answer files for one stage and one setting of that stage."""

    def __init__(self, stage: str, settings: Mapping[str, Any], root: str | os.PathLike | None = None) -> None:
        self.key = config_hash(dict(settings))
        self.directory = stage_dir(stage, self.key, root)

    def _file(self, text: str) -> Path:
        digest = text_digest(text)
        return self.directory / digest[:2] / f"{digest}.json"

    def get(self, text: str) -> dict[str, Any] | None:
        """The stored payload for ``text``, or None (also for an unreadable file: a corrupt
        entry is a miss, and the next put overwrites it)."""
        path = self._file(text)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def put(self, text: str, payload: Mapping[str, Any]) -> None:
        """Store ``payload`` (JSON-able) for ``text`` atomically."""
        with atomic_path(self._file(text)) as tmp:
            tmp.write_text(json.dumps(dict(payload)), encoding="utf-8")

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json")) if self.directory.is_dir() else 0
