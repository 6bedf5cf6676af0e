"""Harmonize one column of a CSV file: the table plus, for the task, its answer columns.

``<name>`` (value or "unsure"), ``<name>_agreement``, ``<name>_backend`` and
``<name>_unparseable`` are added to the input table (``realm harmonize`` writes it), ``<name>``
being the task's name unless ``out_column`` says otherwise. An answer column never replaces an
input column (a collision is refused), and an existing output file is replaced only with
``overwrite``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from realm.cache import atomic_path
from realm.errors import ConfigError, DataError
from realm.harmonize.harmonizer import harmonize
from realm.harmonize.tasks import HarmonizeTask

__all__ = ["harmonize_csv", "answer_columns"]

log = logging.getLogger(__name__)


def answer_columns(name: str) -> tuple[str, str, str, str]:
    """The four columns an answer fills: value, agreement, backend, unparseable count."""
    return name, f"{name}_agreement", f"{name}_backend", f"{name}_unparseable"


def harmonize_csv(source: Path, column: str, task: HarmonizeTask, out: Path, *, backend: str = "kg",
                  kg: str = "default", chat_model: object | None = None, n_samples: int = 5,
                  min_agreement: float = 0.6, cache: bool = True, out_column: str | None = None,
                  overwrite: bool = False) -> pd.DataFrame:
    """Harmonize ``column`` of the CSV ``source`` for ``task``; writes the table with the
    answer columns (named after ``out_column``, default the task's name) to ``out`` and
    returns it."""
    if not source.is_file():
        raise DataError("no such file", path=source)
    if Path(out).exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    if Path(out).resolve() == Path(source).resolve():
        raise ConfigError(f"--out {out} is the input file; write the answers to another file")
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    if column not in table.columns:
        raise DataError(f"no column {column!r} (has {list(table.columns)[:12]})", path=source, field=column)
    columns = answer_columns(out_column or task.name)
    taken = [c for c in columns if c in table.columns]
    if taken:
        raise ConfigError(f"{source} already has column(s) {taken}: the answers would replace them; "
                          "name the answer column with --out-column")
    concepts = harmonize(table[column].tolist(), task, backend, kg=kg, chat_model=chat_model,
                         n_samples=n_samples, min_agreement=min_agreement, cache=cache)
    value, agreement, answered_by, unparseable = columns
    table[value] = [c.value for c in concepts]
    table[agreement] = [round(c.agreement, 4) for c in concepts]
    table[answered_by] = [c.backend for c in concepts]
    table[unparseable] = [c.n_unparseable for c in concepts]
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    distinct = {c.text: c for c in concepts}
    unsure = sum(c.is_unsure for c in distinct.values())
    log.info("%s: %d rows, %d distinct strings, %d unsure -> %s", task.name, len(table), len(distinct),
             unsure, out)
    return table
