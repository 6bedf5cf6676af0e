"""Clinical knowledge kept as reviewable data files (CSV/YAML), and their loaders."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from realm.errors import DataError

__all__ = ["resource_path", "RuleRow", "read_rule_table", "Variable", "load_variables", "SCALES"]

#: How a continuous variable is put on the scale models read (variables.csv ``scale``).
SCALES = ("linear", "log")


def resource_path(name: str) -> Path:
    """Path of a file shipped in ``realm/resources``."""
    return Path(str(resources.files("realm.resources").joinpath(name)))


@dataclass(frozen=True)
class RuleRow:
    """One data row of a rule table: its file, its line in that file, its stripped values."""

    path: Path
    line: int
    values: Mapping[str, str]

    def get(self, column: str) -> str:
        """The value of ``column``; "" when the row leaves it empty or short."""
        return self.values.get(column, "")


def read_rule_table(path: str | Path, required: tuple[str, ...] = ()) -> list[RuleRow]:
    """Rows of a hand-written CSV rule table (a shipped one: ``resource_path(name)``).

    Lines starting with ``#`` are comments and blank lines are skipped; a byte-order mark
    (as spreadsheet programs write) is ignored. Each row keeps the line number it has in
    the file, comment lines counted, so the callers' messages point at the line an editor
    shows. A missing file, or a header lacking a ``required`` column, raises
    :class:`DataError` naming the file, the header's line and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such rule table", path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the table ({type(exc).__name__})", path=path) from exc
    numbered = [(n, line) for n, line in enumerate(text.splitlines(keepends=True), start=1)
                if line.strip() and not line.startswith("#")]
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for _, line in numbered:
            consumed += 1
            yield line

    reader = csv.reader(lines())
    header = [h.strip() for h in next(reader, [])]
    header_line = numbered[0][0] if numbered else 1
    for column in required:
        if column not in header:
            raise DataError("missing column", path=path, row=header_line, field=column)
    rows = []
    while True:
        start = consumed  # a quoted value may span lines: a row is at its first line
        values = next(reader, None)
        if values is None:
            return rows
        rows.append(RuleRow(path, numbered[start][0],
                            {h: v.strip() for h, v in zip(header, values) if h}))


@dataclass(frozen=True)
class Variable:
    """A canonical time-series variable: unit, physiologic bounds and normal value."""

    name: str
    kind: str  # "continuous" | "categorical"
    unit: str
    valid_low: float
    valid_high: float
    normal: float
    categories: tuple[float, ...] = ()
    #: "log": models read log1p(value / normal) (right-skewed labs such as ALT, lactate,
    #: urine output, whose information is multiplicative); "linear": the value itself
    scale: str = "linear"
    physionet2012: str | None = None
    description: str = ""

    @property
    def is_categorical(self) -> bool:
        return self.kind == "categorical"


@lru_cache(maxsize=4)
def load_variables(path: str | None = None) -> dict[str, Variable]:
    """Read the variable table (default: the shipped ``variables.csv``), keyed by name."""
    file = Path(path) if path else resource_path("variables.csv")
    table = pd.read_csv(file, dtype=str, keep_default_na=False)
    required = ["variable", "kind", "unit", "valid_low", "valid_high", "normal", "categories"]
    for col in required:
        if col not in table.columns:
            raise DataError("missing column", path=file, field=col)
    out: dict[str, Variable] = {}
    for i, row in table.iterrows():
        line = int(i) + 2  # 1-based, after the header
        if row["kind"] not in ("continuous", "categorical"):
            raise DataError(f"unknown kind {row['kind']!r}", path=file, row=line, field="kind")
        try:
            cats = tuple(float(c) for c in row["categories"].split(";") if c)
            var = Variable(
                name=row["variable"],
                kind=row["kind"],
                unit=row["unit"],
                valid_low=float(row["valid_low"]),
                valid_high=float(row["valid_high"]),
                normal=float(row["normal"]),
                categories=cats,
                scale=row.get("scale") or "linear",
                physionet2012=row.get("physionet2012") or None,
                description=row.get("description", ""),
            )
        except ValueError as exc:
            raise DataError(f"not a number ({exc})", path=file, row=line) from exc
        if var.scale not in SCALES:
            raise DataError(f"unknown scale {var.scale!r} (expected one of {SCALES})", path=file,
                            row=line, field="scale")
        if var.scale == "log" and not (var.normal > 0 and var.valid_low >= 0):
            raise DataError("a log-scale variable needs a positive normal value and valid_low >= 0",
                            path=file, row=line, field="scale")
        if var.is_categorical and not var.categories:
            raise DataError("categorical variable without categories", path=file, row=line)
        if var.name in out:
            raise DataError(f"duplicate variable {var.name!r}", path=file, row=line)
        out[var.name] = var
    return out
