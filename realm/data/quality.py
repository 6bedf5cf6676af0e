"""The data-quality report: every row a reader skipped, fixed or clipped, counted by reason.

Readers never drop anything silently: a recoverable problem in one row is counted here
(file, field, reason) and the report is written next to the cohort as ``quality.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["QualityReport"]


@dataclass
class QualityReport:
    """Counts of row-level problems, keyed by (file, field, reason), plus a few examples.

    Examples carry row numbers and ids only, never note text.
    """

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 5

    @staticmethod
    def _key(file: str, field_name: str, reason: str) -> str:
        return f"{file}|{field_name}|{reason}"

    def add(
        self, file: str, field_name: str, reason: str, n: int = 1, example: str | None = None
    ) -> None:
        """Count ``n`` rows of ``file`` whose ``field_name`` had problem ``reason``."""
        if n <= 0:
            return
        key = self._key(file, field_name, reason)
        self.counts[key] += int(n)
        if example is not None:
            bucket = self.examples.setdefault(key, [])
            if len(bucket) < self.max_examples:
                bucket.append(example)

    def merge(self, other: QualityReport) -> None:
        """Add another report's counts and examples into this one."""
        self.counts.update(other.counts)
        for key, items in other.examples.items():
            bucket = self.examples.setdefault(key, [])
            bucket.extend(items[: max(0, self.max_examples - len(bucket))])

    def total(self, reason: str | None = None) -> int:
        """Total count, optionally only for one reason."""
        return sum(n for k, n in self.counts.items() if reason is None or k.endswith(f"|{reason}"))

    def to_dict(self) -> dict:
        rows = []
        for key, n in sorted(self.counts.items()):
            file, field_name, reason = key.split("|", 2)
            rows.append(
                {
                    "file": file,
                    "field": field_name,
                    "reason": reason,
                    "count": n,
                    "examples": self.examples.get(key, []),
                }
            )
        return {"total": self.total(), "problems": rows}

    @classmethod
    def from_dict(cls, data: dict) -> QualityReport:
        report = cls()
        for row in data.get("problems", []):
            key = cls._key(row["file"], row["field"], row["reason"])
            report.counts[key] = int(row["count"])
            report.examples[key] = list(row.get("examples", []))
        return report

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    def summary(self) -> str:
        """A short human-readable table of the problems."""
        if not self.counts:
            return "no data-quality problems"
        lines = [f"{self.total()} rows with problems:"]
        for row in self.to_dict()["problems"]:
            lines.append(f"  {row['count']:>8}  {row['file']}  {row['field']}  {row['reason']}")
        return "\n".join(lines)
