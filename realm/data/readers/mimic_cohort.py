"""The MIMIC reader's cohort rules, the stays relation the scans join to, the note and
drug-order scans, and the final assembly.

The reader (:mod:`~realm.data.readers.mimic`) is built from this module and the ones beside
it: :mod:`~realm.data.readers.mimic_layout` (the source versions' table layouts),
:mod:`~realm.data.readers.mimic_tables` (finding and scanning CSVs),
:mod:`~realm.data.readers.mimic_events` (the itemid map and bounded-memory event scans) and
:mod:`~realm.data.readers.mimic_values` (unit conversion).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from realm.data.cohort import STAY_COLUMNS, Cohort
from realm.data.labels import mortality_labels, readmission_labels
from realm.data.quality import QualityReport
from realm.data.readers.mimic_tables import TableFile, count_rejects, csv_scan, query

__all__ = [
    "apply_cohort_rules",
    "first_value",
    "window_end",
    "hours_between",
    "register_stays",
    "build_cohort",
    "collect_notes",
    "collect_medications",
]


# -- cohort rules -----------------------------------------------------------------------------
def apply_cohort_rules(
    icu: pd.DataFrame, admissions: pd.DataFrame, quality: QualityReport, file: str
) -> pd.DataFrame:
    """The mimic3-benchmarks root rules, each exclusion counted under ``file``.

    ``icu`` has stay_id, subject_id, hadm_id, intime, outtime, first_unit, last_unit,
    optionally first_ward/last_ward, and age. In the benchmarks' order: stays with an ICU
    transfer (care unit or ward changed) go first; then admissions left with other than
    exactly one ICU stay; then stays of patients under 18.
    """
    rules: list[tuple[str, str, pd.Series]] = []
    rules.append(("INTIME", "no intime or outtime", icu["intime"].isna() | icu["outtime"].isna()))
    rules.append(("HADM_ID", "admission not in the admissions table",
                  ~icu["hadm_id"].isin(admissions["hadm_id"])))
    rules.append(("AGE", "no age (subject not in the patients table)", icu["age"].isna()))
    moved = icu["first_unit"].ne(icu["last_unit"]).fillna(True)
    if "first_ward" in icu.columns:
        moved |= icu["first_ward"].ne(icu["last_ward"]).fillna(False)
    rules.append(("LAST_CAREUNIT", "ICU transfer (care unit or ward changed)", moved))
    out = icu
    for field_name, reason, mask in rules:
        drop = mask.reindex(out.index, fill_value=False).astype(bool)
        quality.add(file, field_name, reason, int(drop.sum()))
        out = out[~drop]
    per_admission = out.groupby("hadm_id")["stay_id"].transform("size")
    quality.add(file, "HADM_ID", "admission with more than one ICU stay", int((per_admission > 1).sum()))
    out = out[per_admission == 1]
    young = out["age"] < 18
    quality.add(file, "AGE", "age under 18", int(young.sum()))
    return out[~young].reset_index(drop=True)


def first_value(events: pd.DataFrame, variable: str) -> pd.Series:
    """The first value of ``variable`` per stay_id inside the window (e.g. admission weight)."""
    rows = events[events["variable"] == variable]
    if rows.empty:
        return pd.Series(dtype="float64")
    return rows.sort_values("hours", kind="stable").groupby("stay_id")["value"].first()


def window_end(intime: pd.Series, window_hours: float) -> pd.Series:
    """The prediction time of each stay: ``intime + window_hours``."""
    return intime + pd.to_timedelta(float(window_hours), unit="h")


def hours_between(start: pd.Series, end: pd.Series) -> np.ndarray:
    """Hours from ``start`` to ``end`` as float64 (NaN where either is missing)."""
    return ((end - start).dt.total_seconds() / 3600.0).to_numpy(dtype="float64")


# -- assembly ---------------------------------------------------------------------------------
def register_stays(con: duckdb.DuckDBPyConnection, stays: pd.DataFrame, window_hours: float) -> None:
    """Register the cohort's stays as ``cohort_stays`` for the event and note scans."""
    frame = pd.DataFrame({
        "stay_id": stays["stay_id"].astype("int64"),
        "subject_id": stays["subject_id"].astype("int64"),
        "hadm_id": stays["hadm_id"].astype("int64"),
        "intime": stays["intime"].astype("datetime64[us]"),
        "window_end": window_end(stays["intime"], window_hours).astype("datetime64[us]"),
    })
    con.register("cohort_stays", frame)


def build_cohort(
    stays: pd.DataFrame,
    events: pd.DataFrame,
    notes: pd.DataFrame,
    admissions: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    source: str,
    window_hours: float,
    quality: QualityReport,
    meta: dict,
    medications: pd.DataFrame | None = None,
) -> Cohort:
    """Add height, weight, length of stay and labels to ``stays`` and build the Cohort.

    ``events`` come sorted by stay_id and hours (as
    :meth:`~realm.data.readers.mimic_events.EventCollector.frame` returns them): sorting
    again here would copy every column of the largest table once more. ``admissions``
    (subject_id, hadm_id, admittime, deathtime) and ``patients`` (subject_id, dod) hold
    the whole source, so readmissions outside the cohort count. ``medications`` (from
    :func:`collect_medications`) is None when the source has no PRESCRIPTIONS table.
    """
    stays = stays.copy()
    stays["los_hours"] = hours_between(stays["intime"], stays["outtime"])
    stays["height"] = stays["stay_id"].map(first_value(events, "height")).astype("float64")
    stays["weight"] = stays["stay_id"].map(first_value(events, "weight")).astype("float64")
    stays["source"] = source
    labels = pd.DataFrame({
        "stay_id": stays["stay_id"].to_numpy(),
        "mortality": mortality_labels(stays, window_hours).to_numpy(),
        "readmission_30d": readmission_labels(
            stays, admissions, patients, window_hours=window_hours).to_numpy(),
    })
    keep = [c for c in STAY_COLUMNS if c in stays.columns]
    meta = {"source": source, "window_hours": float(window_hours), **meta}
    return Cohort(stays=stays[keep], events=events, notes=notes, labels=labels,
                  meta=meta, quality=quality, medications=medications)


def collect_notes(
    con: duckdb.DuckDBPyConnection, select_sql: str, table: TableFile
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Run a note scan that yields note_id, stay_id, hours, category, reason, text.

    ``reason`` is "ok" for a note that enters the cohort, else why it does not; the text of
    excluded notes is never kept. Returns the kept notes and the count of every reason.
    """
    query(con, "DROP TABLE IF EXISTS scanned_notes", table)
    query(con, f"""
        CREATE TEMP TABLE scanned_notes AS
        SELECT note_id, stay_id, CAST(hours AS FLOAT) AS hours, category, reason,
               CASE WHEN reason = 'ok' THEN text END AS text
        FROM ({select_sql})""", table)
    counts = query(con, "SELECT reason, count(*) AS n FROM scanned_notes GROUP BY reason", table)
    notes = query(con, """SELECT note_id, stay_id, hours, category, text FROM scanned_notes
                          WHERE reason = 'ok' ORDER BY stay_id, hours, note_id""", table)
    query(con, "DROP TABLE scanned_notes", table)
    return notes, {str(r): int(n) for r, n in zip(counts["reason"], counts["n"])}


def collect_medications(
    con: duckdb.DuckDBPyConnection,
    table: TableFile,
    quality: QualityReport,
    *,
    hadm: str,
    start: str,
    drug: str,
    route: str | None,
    date_only: bool,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drug orders (PRESCRIPTIONS) of the cohort's admissions known by the prediction time.

    Orders join stays by ``hadm_id`` (each cohort admission has one ICU stay), so orders
    written on the ward before the ICU stay come with negative hours. ``start`` names the
    start column (``hadm``, ``drug`` and ``route`` the others; no route when None); with
    ``date_only`` (MIMIC-III's STARTDATE holds a date) an order counts as
    known at the end of its start day, so an order written later that day cannot leak.
    Orders without a start or a drug name are counted under ``table`` in ``quality``;
    those known after the prediction time are counted in the returned reasons. Stop times
    are never read: when an order stopped can tell how the stay ended.
    """
    def c(name: str) -> str:
        return "p." + table.col(name)

    when = f"(CAST(CAST({c(start)} AS DATE) AS TIMESTAMP) + INTERVAL 1 DAY)" if date_only else c(start)
    route_sql = f"trim({c(route)})" if route else "NULL"
    scan = csv_scan(table, {hadm: "BIGINT", start: "TIMESTAMP"})
    query(con, "DROP TABLE IF EXISTS scanned_meds", table)
    query(con, f"""
        CREATE TEMP TABLE scanned_meds AS
        SELECT s.stay_id, CAST(date_diff('microsecond', s.intime, {when}) / 3.6e9 AS FLOAT) AS hours,
               trim({c(drug)}) AS drug, {route_sql} AS route,
               CASE WHEN {c(drug)} IS NULL OR trim({c(drug)}) = '' THEN 'nodrug'
                    WHEN {c(start)} IS NULL THEN 'nostart'
                    WHEN {when} > s.window_end THEN 'after' ELSE 'ok' END AS reason
        FROM {scan} p JOIN cohort_stays s ON {c(hadm)} = s.hadm_id""", table)
    count_rejects(con, table, quality)
    counts = query(con, "SELECT reason, count(*) AS n FROM scanned_meds GROUP BY reason", table)
    meds = query(con, """SELECT stay_id, hours, drug, route FROM scanned_meds WHERE reason = 'ok'
                         ORDER BY stay_id, hours, drug""", table)
    query(con, "DROP TABLE scanned_meds", table)
    reasons = {str(r): int(n) for r, n in zip(counts["reason"], counts["n"])}
    quality.add(table.name, drug, "order without a drug name", reasons.get("nodrug", 0))
    quality.add(table.name, start, "order without a start time", reasons.get("nostart", 0))
    return meds, reasons
