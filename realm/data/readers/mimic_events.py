"""MIMIC event tables (CHARTEVENTS, LABEVENTS) → canonical events, in bounded memory.

CHARTEVENTS is 330 M rows / 33 GB in MIMIC-III, so nothing here ever holds a table, or
even the scan's whole result: DuckDB streams the CSV, keeps only mapped itemids of cohort
stays inside the prediction window, and hands over Arrow record batches of at most
``batch_rows`` rows. Each batch is converted to canonical units and range-checked at once
(every dropped row counted), and only the kept events stay, in compact columns::

    stay_id int64, hours float32, variable code int8/int16, value float64  (22 bytes/event)

Variable and unit leave as ``Categorical`` columns whose categories are sorted, so sorting
by code sorts by name. Memory therefore grows with the events kept, never with the rows
read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from realm.cache import file_digest
from realm.data.quality import QualityReport
from realm.data.readers.mimic_tables import TableFile, check_bad_share, count_rejects, csv_scan, stream
from realm.data.readers.mimic_values import CONVERSIONS, convert_values
from realm.errors import ConfigError, DataError
from realm.resources import Variable, load_variables, resource_path

__all__ = [
    "DEFAULT_LABS", "BATCH_ROWS", "EventSource", "EventCollector", "load_itemids", "scan_sql",
]

#: Labs read by default (canonical names; ``labs=`` chooses among the ``lab`` group).
DEFAULT_LABS: tuple[str, ...] = (
    "potassium", "sodium", "creatinine", "bun", "lactate", "wbc",
    "platelets", "hct", "hco3", "bilirubin", "albumin", "magnesium",
)

#: Rows per Arrow batch: large enough that per-batch Python overhead is noise, small
#: enough that a batch and its temporaries stay in the tens of megabytes.
BATCH_ROWS = 500_000


def load_itemids(name: str, labs: Sequence[str] | None) -> tuple[pd.DataFrame, list[str], str]:
    """The itemid rows of the map ``name`` (in realm/resources) to read: every ``core``
    variable plus the chosen labs.

    Returns the rows, the lab names and a digest of the map (its version, for meta.json).
    Unknown lab names raise :class:`ConfigError`; an unknown variable or conversion, or an
    itemid listed twice for one table, raises :class:`DataError` naming the map's row.
    """
    path = resource_path(name)
    table = pd.read_csv(path, dtype={"itemid": "int64"}, keep_default_na=False)
    known = load_variables()
    for col, allowed in (("variable", set(known)), ("conversion", set(CONVERSIONS))):
        bad = ~table[col].isin(allowed)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"unknown {col} {table[col].iloc[row]!r}", path=path, row=row + 2,
                            field=col)
    dup = table.duplicated(["table", "itemid"])
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise DataError(f"itemid {table['itemid'].iloc[row]} listed twice", path=path, row=row + 2,
                        field="itemid")
    available = sorted(set(table.loc[table["group"] == "lab", "variable"]))
    chosen = list(DEFAULT_LABS if labs is None else labs)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise ConfigError(f"unknown lab(s) {unknown} in {name}; known: {', '.join(available)}")
    keep = (table["group"] == "core") | table["variable"].isin(chosen)
    return table[keep].reset_index(drop=True), chosen, file_digest(path)[:16]


@dataclass(frozen=True)
class EventSource:
    """How one event table's columns map onto the scan, and how rows join to stays.

    ``join`` is "stay" (the row names its ICU stay), "hadm_stay" (admission, and the ICU
    stay when present) or "subject" (subject, and the admission when present).
    """

    table: TableFile
    subject: str
    hadm: str
    stay: str | None
    time: str
    item: str
    value: str
    valuenum: str
    unit: str
    join: str
    error: str | None = None


_JOINS = {
    "stay": "e.icu_id = s.stay_id",
    "hadm_stay": "e.hadm_id = s.hadm_id AND (e.icu_id IS NULL OR e.icu_id = s.stay_id)",
    "subject": "e.subject_id = s.subject_id AND (e.hadm_id IS NULL OR e.hadm_id = s.hadm_id)",
}


def scan_sql(src: EventSource, itemids: Sequence[int]) -> str:
    """The scan of one event table: mapped itemids of cohort stays inside the window.

    Needs a registered ``cohort_stays`` relation (stay_id, subject_id, hadm_id, intime,
    window_end). Yields stay_id, hours, itemid, value, valuenum, error and bad_number
    (VALUENUM holds text that is not a finite number).
    """
    t = src.table
    types = {src.subject: "BIGINT", src.hadm: "BIGINT", src.time: "TIMESTAMP", src.item: "BIGINT"}
    if src.stay:
        types[src.stay] = "BIGINT"
    items = ", ".join(str(int(i)) for i in sorted(set(itemids))) or "NULL"
    icu = t.col(src.stay) if src.stay else "NULL::BIGINT"
    err = f"TRY_CAST({t.col(src.error)} AS INTEGER)" if src.error else "NULL::INTEGER"
    number = f"TRY_CAST({t.col(src.valuenum)} AS DOUBLE)"
    return f"""
        SELECT s.stay_id,
               CAST(date_diff('microsecond', s.intime, e.t) / 3.6e9 AS FLOAT) AS hours,
               e.itemid, e.value, e.valuenum, e.error, e.bad_number
        FROM (
            SELECT {t.col(src.subject)} AS subject_id, {t.col(src.hadm)} AS hadm_id,
                   {icu} AS icu_id, {t.col(src.time)} AS t, {t.col(src.item)} AS itemid,
                   {number} AS valuenum,
                   -- the text only where no number came with it: keeps batches small
                   CASE WHEN {number} IS NULL THEN {t.col(src.value)} END AS value,
                   {err} AS error,
                   trim(coalesce({t.col(src.valuenum)}, '')) <> ''
                       AND NOT coalesce(isfinite({number}), false) AS bad_number
            FROM {csv_scan(t, types)}
            WHERE {t.col(src.item)} IN ({items})
        ) e
        JOIN cohort_stays s ON {_JOINS[src.join]}
        WHERE e.t >= s.intime AND e.t <= s.window_end
    """


@dataclass
class _Tally:
    """Dropped rows of one table by (variable, reason), and up to 3 unconvertible texts."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def example(self, variable: str, texts: np.ndarray) -> None:
        bucket = self.examples.setdefault(variable, [])
        for text in texts:
            if len(bucket) >= 3:
                return
            if isinstance(text, str) and text[:40] not in bucket:
                bucket.append(text[:40])


@dataclass(frozen=True)
class _Plan:
    """One table's itemids (sorted) and, per itemid, its (variable, conversion) group."""

    itemids: np.ndarray                      # (I,) int64, sorted
    group_of: np.ndarray                     # (I,) index into groups
    groups: tuple[tuple[str, str], ...]      # (variable, conversion)


class EventCollector:
    """Scans event tables batch by batch and keeps their canonical events compactly.

    ``items`` is the whole itemid map of the read (every table), so that all scans share
    one variable code book. Call :meth:`scan` once per table, then :meth:`frame` once.
    """

    def __init__(
        self, items: pd.DataFrame, quality: QualityReport, *, batch_rows: int | None = None
    ) -> None:
        # Read at call time (not as a default argument) so a test can shrink it.
        batch_rows = BATCH_ROWS if batch_rows is None else batch_rows
        if batch_rows < 1:
            raise ConfigError(f"batch_rows must be positive, got {batch_rows}")
        variables = load_variables()
        self._items = items
        self._quality = quality
        self._batch_rows = batch_rows
        self.names: list[str] = sorted(set(items["variable"]))  # sorted: code order = name order
        self._vars: list[Variable] = [variables[n] for n in self.names]
        self._code = {name: i for i, name in enumerate(self.names)}
        self._code_dtype = np.int8 if len(self.names) < 128 else np.int16
        # Kept events, one list of per-batch arrays per column.
        self._parts: dict[str, list[np.ndarray]] = {
            c: [] for c in ("stay_id", "hours", "code", "value")
        }

    def _plan(self, table: str) -> _Plan:
        rows = self._items[self._items["table"] == table].sort_values("itemid")
        groups = tuple(sorted(set(zip(rows["variable"], rows["conversion"]))))
        index = {g: i for i, g in enumerate(groups)}
        pairs = zip(rows["variable"], rows["conversion"])
        group_of = np.array([index[g] for g in pairs], dtype=np.int64)
        return _Plan(rows["itemid"].to_numpy(dtype=np.int64), group_of, groups)

    def scan(
        self, con: duckdb.DuckDBPyConnection, src: EventSource, table: str, value_field: str
    ) -> int:
        """Stream one event table (``table`` names its rows in the itemid map: "chartevents"
        or "labevents"); count every dropped row under the file's name. Returns the number
        of rows read inside the window."""
        plan = self._plan(table)
        tally = _Tally()
        seen = 0
        for batch in stream(con, scan_sql(src, plan.itemids.tolist()), src.table, self._batch_rows):
            seen += batch.num_rows
            self._convert(batch, plan, tally, src)
        rejected = count_rejects(con, src.table, self._quality)
        # The scan returns only mapped items inside the windows, while rejects come from the
        # whole file: the share is taken over what was read, an overestimate only where most
        # rows are bad anyway.
        bad = rejected + sum(n for (_, reason), n in tally.counts.items()
                             if reason in ("error", "number", "bad"))
        check_bad_share(src.table, bad, seen + rejected)
        file = src.table.name
        self._quality.add(file, src.error or "ERROR", "row marked as error (ERROR=1)",
                          tally.counts.pop(("", "error"), 0))
        self._quality.add(file, src.valuenum, f"{src.valuenum} is not a finite number, row skipped",
                          tally.counts.pop(("", "number"), 0),
                          example="; ".join(tally.examples.pop("", [])) or None)
        for (variable, reason), n in sorted(tally.counts.items()):
            if reason == "bad":
                examples = tally.examples.get(variable) or []
                self._quality.add(file, value_field, f"{variable}: value cannot be converted", n,
                                  example="; ".join(examples) or None)
            else:
                self._quality.add(file, value_field, reason, n)
        return seen

    def _convert(self, batch: pa.RecordBatch, plan: _Plan, tally: _Tally, src: EventSource) -> None:
        """Convert, range-check and keep one batch's rows."""
        error = batch.column("error").fill_null(0).to_numpy(zero_copy_only=False)
        ok_rows = error != 1
        tally.counts[("", "error")] += int((~ok_rows).sum())
        # A VALUENUM that is text is a malformed row, not a number to look for in VALUE.
        bad_number = ok_rows & batch.column("bad_number").fill_null(False).to_numpy(zero_copy_only=False)
        if bad_number.any():
            ids = batch.column("itemid").to_numpy(zero_copy_only=False)[bad_number]
            if not src.table.skip_bad_rows:
                raise DataError(f"not a finite number (ITEMID {ids[0]})", path=src.table.path,
                                field=src.valuenum)
            tally.counts[("", "number")] += int(bad_number.sum())
            tally.example("", np.array([f"ITEMID {i}" for i in ids[:3]], dtype=object))
            ok_rows &= ~bad_number
        stay = batch.column("stay_id").to_numpy(zero_copy_only=False)[ok_rows]
        hours = batch.column("hours").to_numpy(zero_copy_only=False)[ok_rows]
        itemid = batch.column("itemid").to_numpy(zero_copy_only=False)[ok_rows]
        valuenum = pd.Series(batch.column("valuenum").to_numpy(zero_copy_only=False)[ok_rows])
        text = batch.column("value").to_numpy(zero_copy_only=False)[ok_rows]
        value = pd.Series(text, dtype=object)
        # The scan keeps mapped itemids only, so every itemid is found in the plan.
        group = plan.group_of[np.searchsorted(plan.itemids, itemid)]
        keep = np.zeros(len(stay), dtype=bool)
        converted = np.full(len(stay), np.nan)
        codes = np.zeros(len(stay), dtype=self._code_dtype)
        for g in np.unique(group):
            variable, conversion = plan.groups[g]
            var = self._vars[self._code[variable]]
            rows = np.flatnonzero(group == g)
            values, bad = convert_values(conversion, value.iloc[rows], valuenum.iloc[rows],
                                         var.categories)
            if bad.any():
                tally.counts[(variable, "bad")] += int(bad.sum())
                tally.example(variable, value.to_numpy()[rows[bad]])
            outside = ~bad & ((values < var.valid_low) | (values > var.valid_high))
            reason = (f"{variable}: outside valid range "
                      f"[{var.valid_low:g}, {var.valid_high:g}] {var.unit}")
            tally.counts[(variable, reason)] += int(outside.sum())
            keep[rows] = ~bad & ~outside
            converted[rows] = values
            codes[rows] = self._code[variable]
        kept = {"stay_id": stay, "hours": hours, "code": codes, "value": converted}
        for name, column in kept.items():
            self._parts[name].append(np.ascontiguousarray(column[keep]))

    def frame(self) -> pd.DataFrame:
        """All kept events, sorted by stay_id, hours, variable, value (so the order does not
        depend on DuckDB's parallel scan), with categorical variable and unit columns."""
        cols: dict[str, np.ndarray] = {}
        dtypes = {"stay_id": np.int64, "hours": np.float32, "code": self._code_dtype,
                  "value": np.float64}
        for name, parts in self._parts.items():
            # One column at a time, dropping its parts at once: peak is one column doubled.
            cols[name] = np.concatenate(parts) if parts else np.empty(0, dtype=dtypes[name])
            parts.clear()
        order = np.lexsort((cols["value"], cols["code"], cols["hours"], cols["stay_id"]))
        for name in cols:
            cols[name] = cols[name][order]
        del order
        units = sorted({v.unit for v in self._vars})
        unit_of = np.array([units.index(v.unit) for v in self._vars], dtype=np.int8)
        return pd.DataFrame({
            "stay_id": cols["stay_id"],
            "hours": cols["hours"],
            "variable": pd.Categorical.from_codes(cols["code"], categories=self.names),
            "value": cols["value"],
            "unit": pd.Categorical.from_codes(unit_of[cols["code"]], categories=units),
        }, copy=False)
