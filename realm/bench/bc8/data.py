"""Read and write the BioCreative VIII Track 3 TSV (dysmorphology exam phenotypes).

One row per finding: ``StringID  ParticipantCount  Text  Term  Negated  Spans``. Rows of one
observation repeat its text; an observation without a finding has ``Term = NA``. ``Spans`` are
half-open character offsets into ``Text``, comma-separated when a finding is discontinuous
(``EYES: ... up-slant`` -> ``0-4,23-36``). ``Negated = X`` marks a normal (negated) finding.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from realm.errors import DataError

__all__ = [
    "COLUMNS",
    "Finding",
    "Observation",
    "parse_spans",
    "format_spans",
    "read_bc8",
    "write_bc8",
    "split_observations",
]

COLUMNS: tuple[str, ...] = ("StringID", "ParticipantCount", "Text", "Term", "Negated", "Spans")
Spans = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Finding:
    """One phenotype finding of an observation: an HPO id, its spans and its negation."""

    term: str
    spans: Spans
    negated: bool = False


@dataclass(frozen=True)
class Observation:
    """One organ-system observation (a row group sharing a StringID)."""

    string_id: str
    text: str
    findings: tuple[Finding, ...] = ()
    participant_count: int = 1


def parse_spans(value: str) -> Spans:
    """``"0-4,23-36"`` -> ``((0, 4), (23, 36))``; raises ValueError on malformed input."""
    spans = []
    for part in value.split(","):
        start_s, sep, end_s = part.strip().partition("-")
        if not sep:
            raise ValueError(f"span {part!r} has no '-'")
        start, end = int(start_s), int(end_s)
        if not 0 <= start < end:
            raise ValueError(f"span {part!r} is empty or negative")
        spans.append((start, end))
    return tuple(spans)


def format_spans(spans: Spans) -> str:
    """Inverse of :func:`parse_spans`."""
    return ",".join(f"{s}-{e}" for s, e in spans)


def _finding(row: dict[str, str], path: Path, lineno: int) -> Finding | None:
    term = row["Term"].strip()
    if term in ("", "NA"):
        return None
    negated = row["Negated"].strip()
    if negated not in ("X", "NA", ""):
        raise DataError(f"Negated must be 'X' or 'NA', got {negated!r}", path=path, row=lineno, field="Negated")
    try:
        spans = parse_spans(row["Spans"])
    except ValueError as exc:
        raise DataError(f"malformed spans ({exc})", path=path, row=lineno, field="Spans") from None
    if max(e for _, e in spans) > len(row["Text"]):
        raise DataError("span ends past the text", path=path, row=lineno, field="Spans")
    return Finding(term=term, spans=spans, negated=negated == "X")


def read_bc8(path: str | Path) -> list[Observation]:
    """Read a Track 3 TSV into observations, in first-seen order.

    Raises :class:`DataError` naming the file and row for a missing column, a short row,
    malformed spans, spans past the text, or one StringID with two different texts.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    order: list[str] = []
    texts: dict[str, str] = {}
    counts: dict[str, int] = {}
    findings: dict[str, list[Finding]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        # QUOTE_NONE: texts carry bare quotes; the format has no quoting.
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            raise DataError(f"header must be {'/'.join(COLUMNS)}", path=path, row=1)
        for lineno, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != len(COLUMNS):
                raise DataError(f"expected {len(COLUMNS)} fields, got {len(values)}", path=path, row=lineno)
            row = dict(zip(COLUMNS, values))
            sid = row["StringID"].strip()
            if not sid:
                raise DataError("empty StringID", path=path, row=lineno, field="StringID")
            try:
                count = int(row["ParticipantCount"] or 1)
            except ValueError:
                raise DataError("not an integer", path=path, row=lineno, field="ParticipantCount") from None
            if sid in texts and texts[sid] != row["Text"]:
                raise DataError("same StringID with a different Text", path=path, row=lineno, field="Text")
            if sid not in texts:
                order.append(sid)
                texts[sid], counts[sid], findings[sid] = row["Text"], count, []
            finding = _finding(row, path, lineno)
            if finding is not None:
                findings[sid].append(finding)
    return [Observation(sid, texts[sid], tuple(findings[sid]), counts[sid]) for sid in order]


def write_bc8(observations: Iterable[Observation], path: str | Path) -> Path:
    """Write observations in the Track 3 format (an observation without findings -> NA row)."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        # written by hand: the format has no quoting, and csv.writer refuses bare quotes
        fh.write("\t".join(COLUMNS) + "\n")
        for obs in observations:
            if any(ch in obs.text for ch in "\t\n\r"):
                raise DataError("text contains a tab or newline", path=path, field="Text")
            rows = [(f.term, "X" if f.negated else "NA", format_spans(f.spans)) for f in obs.findings]
            for term, neg, spans in rows or [("NA", "NA", "NA")]:
                fh.write(f"{obs.string_id}\t{obs.participant_count}\t{obs.text}\t{term}\t{neg}\t{spans}\n")
    return path


def split_observations(
    observations: Sequence[Observation], *, dev_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Observation], list[Observation]]:
    """Split by observation (never by row) into (train, dev), reproducibly for ``seed``."""
    if not 0.0 < dev_fraction < 1.0:
        raise DataError(f"dev_fraction must be in (0, 1), got {dev_fraction}")
    ids = sorted({o.string_id for o in observations})
    random.Random(seed).shuffle(ids)
    dev_ids = set(ids[: round(len(ids) * dev_fraction)])
    train = [o for o in observations if o.string_id not in dev_ids]
    dev = [o for o in observations if o.string_id in dev_ids]
    return train, dev
