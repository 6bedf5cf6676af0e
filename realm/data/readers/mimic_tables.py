"""Finding MIMIC CSV tables and scanning them with DuckDB.

Every table is read through DuckDB's CSV reader with explicit column types, so no type is
ever guessed from a sample of a 33 GB file, and DuckDB errors become :class:`DataError`
naming the file, never quoting the offending line (it may hold note text).

A table found with ``skip_bad_rows`` lets DuckDB set aside the rows it cannot parse (a
value that is not of its column's type, too few or too many fields) instead of failing the
scan; :func:`count_rejects` then counts them in the quality report by field and reason,
with row numbers as examples and never the row itself.
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

from realm.data.quality import QualityReport
from realm.errors import ConfigError, DataError

__all__ = ["TableFile", "find_table", "duck", "csv_scan", "query", "stream", "safe_message",
           "count_rejects", "check_bad_share"]

#: DuckDB's tables of set-aside rows; one scan at a time uses them (see count_rejects).
REJECTS = "realm_rejects"
REJECT_SCANS = "realm_reject_scans"


@dataclass(frozen=True)
class TableFile:
    """One CSV table on disk and its header (the column names as the file spells them).

    ``skip_bad_rows``: scans set aside unparseable rows (see :func:`count_rejects`) instead
    of failing at the first. ``max_bad_fraction``: a file with more of its rows bad than this
    is unreadable (see :func:`check_bad_share`), never silently thinned.
    """

    path: Path
    columns: tuple[str, ...]
    skip_bad_rows: bool = False
    max_bad_fraction: float = 0.5

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
    folder: Path, name: str, required: Sequence[str], *, optional: bool = False,
    skip_bad_rows: bool = False, max_bad_fraction: float = 0.5,
) -> TableFile | None:
    """Locate ``name``.csv or ``name``.csv.gz in ``folder`` (any case) and check its header.

    Returns None for a missing optional table; raises :class:`DataError` naming the file
    and column when a required column is absent. ``skip_bad_rows`` and ``max_bad_fraction``
    are the table's row policy (see :class:`TableFile`).
    """
    candidates = {p.name.lower(): p for p in folder.iterdir()} if folder.is_dir() else {}
    path = candidates.get(f"{name.lower()}.csv.gz") or candidates.get(f"{name.lower()}.csv")
    if path is None:
        if optional:
            return None
        raise DataError(f"missing table {name} (.csv or .csv.gz)", path=folder)
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise ConfigError(f"max_bad_fraction must lie in [0, 1], got {max_bad_fraction}")
    table = TableFile(path, _read_header(path), skip_bad_rows, max_bad_fraction)
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
    rejects = (f", store_rejects=true, rejects_table='{REJECTS}', rejects_scan='{REJECT_SCANS}'"
               if table.skip_bad_rows else "")
    return (
        f"read_csv('{path}', header=true, delim=',', quote='\"', escape='\"', "
        f"auto_detect=false, columns={{{cols}}}{rejects})"
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


def check_bad_share(table: TableFile, bad: int, total: int) -> None:
    """Raise :class:`DataError` naming the file when more than its ``max_bad_fraction`` of
    ``total`` rows were bad: such a file is unreadable (a wrong export, another format), and
    reading the few rows that parse would thin the cohort without a word."""
    if total and bad > table.max_bad_fraction * total:
        raise DataError(f"unreadable: {bad} of {total} rows malformed (more than "
                        f"{table.max_bad_fraction:.0%}; see the rows named with --strict)",
                        path=table.path)


def count_rejects(con: duckdb.DuckDBPyConnection, table: TableFile, quality: QualityReport,
                  read: int | None = None) -> int:
    """Count the rows the last scan of ``table`` set aside, then forget them.

    Each rejected row counts once, under the first field DuckDB could not read (or its
    structural reason: missing or extra fields), with row numbers as examples (CSV records,
    the header being row 1; a quoted field may span lines). Returns the number of rows. A
    no-op for a table scanned without ``skip_bad_rows``. ``read``: the rows the scan
    returned, when it read the whole file; the rejects' share of all rows is then checked
    (:func:`check_bad_share`).
    """
    if not table.skip_bad_rows:
        return 0
    present = query(con, "SELECT count(*) AS n FROM duckdb_tables() "
                         f"WHERE table_name = '{REJECTS}'", table)
    if not int(present["n"].iloc[0]):
        return 0
    rows = query(con, f"""
        SELECT column_name, error_type, count(*) AS n, list(line ORDER BY line)[:3] AS lines
        FROM (SELECT scan_id, line, arg_min(column_name, column_idx) AS column_name,
                     arg_min(error_type, column_idx) AS error_type
              FROM {REJECTS} GROUP BY scan_id, line)
        GROUP BY column_name, error_type ORDER BY column_name, error_type""", table)
    query(con, f"DROP TABLE {REJECTS}; DROP TABLE {REJECT_SCANS}", table)
    for column, kind, n, lines in zip(rows["column_name"], rows["error_type"], rows["n"],
                                      rows["lines"]):
        reason = ("value cannot be read as its column's type, row skipped" if kind == "CAST"
                  else f"malformed row ({str(kind).lower()}), row skipped")
        field_name = str(column) if kind == "CAST" and isinstance(column, str) else "(row)"
        examples = ", ".join(f"row {int(x)}" for x in lines)
        quality.add(table.name, field_name, reason, int(n), example=examples)
    rejected = int(rows["n"].sum()) if len(rows) else 0
    if read is not None:
        check_bad_share(table, rejected, rejected + read)
    return rejected
