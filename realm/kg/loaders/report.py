"""Problems found while loading a KG source, counted and reported, never swallowed.

Every loader cleans text the same way (:func:`clean_text`) and records what it had to fix
or skip in a :class:`LoadReport`. In strict mode the first problem raises; otherwise the
load proceeds and :meth:`LoadReport.log` lists every kind of problem with its count and a
few examples, so a build is never silently lossy.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from realm.errors import DataError

__all__ = ["LoadReport", "clean_text"]

log = logging.getLogger(__name__)

# Format characters (zero-width spaces, BOMs, soft hyphens) make two identical-looking
# names hash differently and never carry meaning: they are removed. Control characters
# (tabs, C1 codes from mis-decoded text) are turned into spaces.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u206f\ufeff]")
_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u2028-\u202f]")
_SPACE = re.compile(r"\s+")

#: How many examples of each problem kind a report keeps (enough to find them, not a dump).
_EXAMPLES = 5


def clean_text(text: str) -> str:
    """NFC-normalize, drop invisible characters, collapse whitespace, strip."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text))
    return _SPACE.sub(" ", text).strip()


@dataclass
class LoadReport:
    """Counts of problems met while loading one source, with a few examples of each.

    ``strict=True`` turns the first problem into a :class:`DataError` naming file and row.
    """

    source: str
    strict: bool = False
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def problem(self, kind: str, detail: str, *, path: object = None, row: int | None = None) -> None:
        """Record one problem of ``kind``; raise at once when strict."""
        where = f"{path}:{row}" if row is not None else str(path or self.source)
        if self.strict:
            raise DataError(f"{kind}: {detail}", path=path or self.source, row=row)
        self.counts[kind] += 1
        examples = self.examples.setdefault(kind, [])
        if len(examples) < _EXAMPLES:
            examples.append(f"{where}: {detail}")

    def clean(self, text: str, what: str, *, path: object = None, row: int | None = None) -> str:
        """:func:`clean_text`, counting a 'normalized text' problem when it changed anything."""
        cleaned = clean_text(text)
        if cleaned != text.strip():
            self.problem("normalized text", f"{what} {text!r} -> {cleaned!r}", path=path, row=row)
        return cleaned

    @property
    def total(self) -> int:
        """The number of problems recorded."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line per problem kind: count and examples."""
        lines = [f"{self.source}: {self.total} problem(s)"]
        for kind, count in sorted(self.counts.items()):
            lines.append(f"  {kind}: {count} (e.g. {'; '.join(self.examples.get(kind, []))})")
        return "\n".join(lines)

    def log(self) -> None:
        """Log the summary: a warning when there were problems, debug otherwise."""
        if self.total:
            log.warning("%s", self.summary())
        else:
            log.debug("%s: no problems", self.source)
