"""Harmonize one column of a CSV file: the table plus, for the task, its answer columns.

``<task>`` (value or "unsure"), ``<task>_agreement``, ``<task>_backend`` and
``<task>_unparseable`` are added to the input table (``realm harmonize`` writes it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from realm.cache import atomic_path
from realm.errors import DataError
from realm.harmonize.harmonizer import harmonize
from realm.harmonize.tasks import HarmonizeTask

__all__ = ["harmonize_csv"]

log = logging.getLogger(__name__)


def harmonize_csv(source: Path, column: str, task: HarmonizeTask, out: Path, *, backend: str = "kg",
                  kg: str = "default", chat_model: object | None = None, n_samples: int = 5,
                  min_agreement: float = 0.6, cache: bool = True) -> pd.DataFrame:
    """Harmonize ``column`` of the CSV ``source`` for ``task``; writes the table with the
    task's answer columns to ``out`` and returns it."""
    if not source.is_file():
        raise DataError("no such file", path=source)
    table = pd.read_csv(source, dtype=str, keep_default_na=False)
    if column not in table.columns:
        raise DataError(f"no column {column!r} (has {list(table.columns)[:12]})", path=source, field=column)
    concepts = harmonize(table[column].tolist(), task, backend, kg=kg, chat_model=chat_model,
                         n_samples=n_samples, min_agreement=min_agreement, cache=cache)
    name = task.name
    table[name] = [c.value for c in concepts]
    table[f"{name}_agreement"] = [round(c.agreement, 4) for c in concepts]
    table[f"{name}_backend"] = [c.backend for c in concepts]
    table[f"{name}_unparseable"] = [c.n_unparseable for c in concepts]
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    distinct = {c.text: c for c in concepts}
    unsure = sum(c.is_unsure for c in distinct.values())
    log.info("%s: %d rows, %d distinct strings, %d unsure -> %s", name, len(table), len(distinct), unsure, out)
    return table
