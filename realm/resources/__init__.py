"""Clinical knowledge kept as reviewable data files (CSV/YAML), and their loaders."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from realm.errors import DataError

__all__ = ["resource_path", "Variable", "load_variables", "SCALES"]

#: How a continuous variable is put on the scale models read (variables.csv ``scale``).
SCALES = ("linear", "log")


def resource_path(name: str) -> Path:
    """Path of a file shipped in ``realm/resources``."""
    return Path(str(resources.files("realm.resources").joinpath(name)))


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
