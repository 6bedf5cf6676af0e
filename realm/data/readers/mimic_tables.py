"""Finding MIMIC CSV tables and scanning them with DuckDB.

Every table is read through DuckDB's CSV reader with explicit column types, so no type is
ever guessed from a sample of a 33 GB file, and DuckDB errors become :class:`DataError`
naming the file, never quoting the offending line (it may hold note text).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import re
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from realm.errors import ConfigError, DataError

__all__ = ["TableFile", "find_table", "duck", "csv_scan", "query", "stream", "safe_message"]


@dataclass(frozen=True)
class TableFile:
    """One CSV table on disk and its header (the column names as the file spells them)."""

    path: Path
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.name

    def col(self, name: str) -> str:
        """The column as a quoted SQL identifier, matched case-insensitively."""
        for actual in self.columns:
            if actual.lower() == name.lower():
                return '"' + actual.replace('"', '""') + '"'
        raise DataError("missing column", path=self.path, field=name)

    def has(self, name: str) -> bool:
        return any(c.lower() == name.lower() for c in self.columns)


def _read_header(path: Path) -> tuple[str, ...]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
            first = fh.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the file ({type(exc).__name__}: {exc})", path=path) from exc
    if not first.strip():
        raise DataError("empty file (no header line)", path=path)
    return tuple(next(csv.reader([first])))


def find_table(
    folder: Path, name: str, required: Sequence[str], *, optional: bool = False
) -> TableFile | None:
    """Locate ``name``.csv or ``name``.csv.gz in ``folder`` (any case) and check its header.

    Returns None for a missing optional table; raises :class:`DataError` naming the file
    and column when a required column is absent.
    """
    candidates = {p.name.lower(): p for p in folder.iterdir()} if folder.is_dir() else {}
    path = candidates.get(f"{name.lower()}.csv.gz") or candidates.get(f"{name.lower()}.csv")
    if path is None:
        if optional:
            return None
        raise DataError(f"missing table {name} (.csv or .csv.gz)", path=folder)
    table = TableFile(path, _read_header(path))
    for col in required:
        if not table.has(col):
            raise DataError("missing column", path=path, field=col)
    return table


@contextlib.contextmanager
def duck(memory_limit: str = "2GB") -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection bounded by ``memory_limit`` that spills to a temp dir."""
    with tempfile.TemporaryDirectory(prefix="realm-duck-") as spill:
        try:
            con = duckdb.connect(
                config={
                    "memory_limit": memory_limit,
                    "temp_directory": spill,
                    # Row order is irrelevant here (events are sorted once at the end) and
                    # keeping it makes DuckDB buffer batches on big parallel scans.
                    "preserve_insertion_order": False,
                }
            )
            try:
                con.execute("SET enable_progress_bar = false")  # tqdm reports progress instead
            except duckdb.Error:
                # Inside a Jupyter kernel without ipywidgets DuckDB refuses this setting;
                # its progress bar is then simply not shown.
                pass
            # Every join here is a big CSV scan (written on the left) against the small
            # ``cohort_stays`` (on the right). DuckDB has no statistics for a CSV and
            # estimates it at a few dozen rows, so its join-order and build-side optimizers
            # would build the hash table from the scan: the whole filtered table held (or
            # spilled) before the first row comes out. Keeping the written order streams it.
            con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
        except duckdb.Error as exc:
            raise ConfigError(f"invalid DuckDB setting (memory_limit={memory_limit!r}): {exc}") from exc
        try:
            yield con
        finally:
            con.close()


def csv_scan(table: TableFile, types: dict[str, str]) -> str:
    """A ``read_csv`` call over ``table`` with every column typed explicitly.

    ``types`` gives the type of the columns the reader uses (case-insensitive); all other
    columns are VARCHAR.
    """
    lowered = {k.lower(): v for k, v in types.items()}
    cols = ", ".join(
        "'{}': '{}'".format(c.replace("'", "''"), lowered.get(c.lower(), "VARCHAR"))
        for c in table.columns
    )
    path = str(table.path).replace("'", "''")
    return (
        f"read_csv('{path}', header=true, delim=',', quote='\"', escape='\"', "
        f"auto_detect=false, columns={{{cols}}})"
    )


_COLUMN = re.compile(r'converting column "[^"]*"')


def safe_message(exc: Exception) -> str:
    """DuckDB's message without the offending line (it may hold note text)."""
    lines = str(exc).splitlines()
    head = lines[0] if lines else type(exc).__name__
    column = next((m.group(0) for m in map(_COLUMN.search, lines) if m), "")
    return f"{head} {column}".strip()


def query(con: duckdb.DuckDBPyConnection, sql: str, table: TableFile) -> pd.DataFrame:
    """Run ``sql`` and return a DataFrame; DuckDB errors become DataError naming the file.

    For small results only: the whole result is materialised. Use :func:`stream` for scans
    whose result grows with the input.
    """
    try:
        relation = con.sql(sql)
        return relation.df() if relation is not None else pd.DataFrame()
    except duckdb.Error as exc:
        raise DataError(f"cannot scan the table: {safe_message(exc)}", path=table.path) from exc


def stream(
    con: duckdb.DuckDBPyConnection, sql: str, table: TableFile, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Run ``sql`` and yield its result as Arrow record batches of at most ``batch_rows``.

    DuckDB produces batches as the scan advances, so memory holds one batch at a time,
    not the result. Errors met mid-stream (a truncated gzip, a malformed row deep in the
    file) become DataError naming the file, like those of :func:`query`.
    """
    try:
        reader = con.sql(sql).to_arrow_reader(batch_rows)
        yield from reader
    except (duckdb.Error, pa.ArrowException) as exc:
        raise DataError(f"cannot scan the table: {safe_message(exc)}", path=table.path) from exc
