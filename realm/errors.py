"""Errors raised by realm.

The hierarchy, so callers can catch at the level they care about::

    RealmError
    ├── ConfigError       a configuration value or combination is invalid
    ├── DataError         an input file, row or field is missing or malformed
    ├── KGError           a knowledge graph or its index is invalid, stale or mismatched
    ├── ExtractionError   entity extraction failed (bad mention, ungrounded span)
    └── LLMError          a language-model call failed or answered out of format

Messages name the file, row, field or class at fault. They never contain note text:
notes are patient data, and error messages end up in logs.
"""

from __future__ import annotations

__all__ = ["RealmError", "ConfigError", "DataError", "KGError", "ExtractionError", "LLMError", "Interrupted"]


class RealmError(Exception):
    """Base class of every error realm raises on purpose."""


class ConfigError(RealmError):
    """A configuration value, or a combination of values, is invalid."""


class DataError(RealmError):
    """An input file, row or field is missing or malformed.

    Pass ``path``, ``row`` and ``field`` so the message points at the exact place.
    """

    def __init__(
        self,
        message: str,
        *,
        path: object | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.row = row
        self.field = field
        where = [
            part
            for part in (
                f"file {self.path}" if self.path is not None else None,
                f"row {row}" if row is not None else None,
                f"field {field!r}" if field is not None else None,
            )
            if part
        ]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class KGError(RealmError):
    """A knowledge graph, its index or its embeddings are invalid, stale or mismatched."""


class ExtractionError(RealmError):
    """Entity extraction failed, e.g. a mention whose spans do not index into its note."""


class LLMError(RealmError):
    """A language-model call failed, timed out, or answered in an unusable format."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, caught by a stage that says what it kept for a re-run (``saved``, e.g. "12
    chunks cached"). Still a KeyboardInterrupt, so code that knows nothing of it stops as
    before; the CLI prints one line and exits 130."""

    def __init__(self, saved: str) -> None:
        super().__init__(saved)
        self.saved = saved
