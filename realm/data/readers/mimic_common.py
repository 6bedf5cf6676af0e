"""What the MIMIC-III and MIMIC-IV readers share: finding tables, scanning them with DuckDB,
the itemid map, value conversion, the cohort rules and the final assembly.

Large tables (CHARTEVENTS is 330 M rows / 33 GB in MIMIC-III) are never loaded whole: DuckDB
streams them with explicit column types, keeps only mapped itemids of cohort stays inside the
prediction window while scanning, and spills to a private temp folder under ``memory_limit``.
Only the small filtered result reaches pandas, where values are converted to canonical units.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging
import re
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from realm.cache import file_digest
from realm.data.cohort import STAY_COLUMNS, Cohort
from realm.data.labels import mortality_labels, readmission_labels
from realm.data.quality import QualityReport
from realm.errors import ConfigError, DataError
from realm.resources import load_variables, resource_path

__all__ = [
    "DEFAULT_LABS",
    "TableFile",
    "EventSource",
    "find_table",
    "duck",
    "csv_scan",
    "query",
    "load_itemids",
    "apply_cohort_rules",
    "scan_events",
    "to_events",
    "first_value",
    "convert_values",
    "register_stays",
    "collect_notes",
    "build_cohort",
    "window_end",
    "hours_between",
    "parse_category",
]

log = logging.getLogger(__name__)

#: Labs read by default (canonical names; ``labs=`` chooses among the ``lab`` group).
DEFAULT_LABS: tuple[str, ...] = (
    "potassium", "sodium", "creatinine", "bun", "lactate", "wbc",
    "platelets", "hct", "hco3", "bilirubin", "albumin", "magnesium",
)


# -- files ------------------------------------------------------------------------------------
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


# -- DuckDB -----------------------------------------------------------------------------------
@contextlib.contextmanager
def duck(memory_limit: str = "2GB") -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection bounded by ``memory_limit`` that spills to a temp dir."""
    with tempfile.TemporaryDirectory(prefix="realm-duck-") as spill:
        try:
            con = duckdb.connect(
                config={
                    "memory_limit": memory_limit,
                    "temp_directory": spill,
                    # Row order is irrelevant here and keeping it costs memory on big scans.
                    "preserve_insertion_order": False,
                }
            )
            con.execute("SET enable_progress_bar = false")  # tqdm reports progress instead
        except duckdb.Error as exc:
            raise ConfigError(f"invalid DuckDB setting (memory_limit={memory_limit!r}): {exc}") from exc
        try:
            yield con
        finally:
            con.close()


def csv_scan(table: TableFile, types: dict[str, str]) -> str:
    """A ``read_csv`` call over ``table`` with every column typed explicitly.

    ``types`` gives the type of the columns the reader uses (case-insensitive); all other
    columns are VARCHAR, so no type is ever guessed from a sample of a 33 GB file.
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


def _safe_message(exc: Exception) -> str:
    """DuckDB's message without the offending line (it may hold note text)."""
    lines = str(exc).splitlines()
    head = lines[0] if lines else type(exc).__name__
    column = next((m.group(0) for m in map(re.compile(r'converting column "[^"]*"').search, lines) if m), "")
    return f"{head} {column}".strip()


def query(con: duckdb.DuckDBPyConnection, sql: str, table: TableFile) -> pd.DataFrame:
    """Run ``sql`` and return a DataFrame; DuckDB errors become DataError naming the file."""
    try:
        relation = con.sql(sql)
        return relation.df() if relation is not None else pd.DataFrame()
    except duckdb.Error as exc:
        raise DataError(f"cannot scan the table: {_safe_message(exc)}", path=table.path) from exc


# -- itemid map -------------------------------------------------------------------------------
def load_itemids(source: str, labs: Sequence[str] | None) -> tuple[pd.DataFrame, list[str], str]:
    """The itemid rows to read: every ``core`` variable plus the chosen labs.

    Returns the rows, the lab names and a digest of the map (its version, for meta.json).
    Unknown lab names raise :class:`ConfigError`.
    """
    path = resource_path(f"{source}_itemids.csv")
    table = pd.read_csv(path, dtype={"itemid": "int64"}, keep_default_na=False)
    known = load_variables()
    unknown_vars = sorted(set(table["variable"]) - set(known))
    if unknown_vars:
        raise DataError(f"variables not in variables.csv: {unknown_vars}", path=path, field="variable")
    available = sorted(set(table.loc[table["group"] == "lab", "variable"]))
    chosen = list(DEFAULT_LABS if labs is None else labs)
    bad = [name for name in chosen if name not in available]
    if bad:
        raise ConfigError(f"unknown lab(s) {bad} for {source}; known: {', '.join(available)}")
    keep = (table["group"] == "core") | table["variable"].isin(chosen)
    return table[keep].reset_index(drop=True), chosen, file_digest(path)[:16]


# -- value conversion -------------------------------------------------------------------------
# Text answers of the categorical items, lower-cased; CareVue prefixes the score
# ("4 Spontaneously"), MetaVision does not ("Spontaneously"), so both forms are listed
# through the leading-number rule in parse_category.
_WORDS: dict[str, dict[str, float]] = {
    "gcs_eye": {"spontaneously": 4, "to speech": 3, "to pain": 2, "no response": 1, "none": 1},
    "gcs_motor": {
        "obeys commands": 6, "localizes pain": 5, "flex-withdraws": 4, "abnormal flexion": 3,
        "abnorm flexion": 3, "abnormal extension": 2, "abnorm extensn": 2, "no response": 1,
    },
    "gcs_verbal": {
        "oriented": 5, "confused": 4, "inappropriate words": 3, "inapprop words": 3,
        "incomprehensible sounds": 2, "incomp sounds": 2, "no response-ett": 1,
        "no response": 1, "et/trach": 1,
    },
}
_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.0+)?)\b")
_FACTORS = {"none": 1.0, "lb_to_kg": 0.45359237, "oz_to_kg": 0.028349523125, "in_to_cm": 2.54}
CONVERSIONS: tuple[str, ...] = ("none", "f_to_c", "lb_to_kg", "oz_to_kg", "in_to_cm",
                                "fio2_fraction", "gcs_eye", "gcs_motor", "gcs_verbal", "cap_refill")


def parse_category(conversion: str, text: object) -> float | None:
    """The numeric category of a GCS or capillary-refill answer, or None if unknown.

    "4 Spontaneously" and "Spontaneously" both give 4; "Normal <3 secs" gives 0 and
    "Abnormal >3 secs" gives 1.
    """
    if not isinstance(text, str):
        return None
    low = " ".join(text.lower().split())
    if conversion == "cap_refill":
        if low.startswith("abnormal") or low.startswith(">3"):
            return 1.0
        if low.startswith("normal") or low.startswith("<3"):
            return 0.0
        return None
    words = _WORDS.get(conversion)
    if words is None:
        raise ConfigError(f"unknown categorical conversion {conversion!r}")
    match = _LEADING_NUMBER.match(low)
    if match:
        return float(match.group(1))
    return float(words[low]) if low in words else None


def convert_values(
    conversion: str, value: pd.Series, valuenum: pd.Series, categories: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Convert one variable's rows to its canonical unit.

    ``value`` is the text column, ``valuenum`` the numeric one (NaN where absent). Returns
    the converted values and a mask of rows that could not be converted.
    """
    num = pd.to_numeric(valuenum, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if conversion in _WORDS or conversion == "cap_refill":
        cats = set(categories)
        text = value.astype("object").to_numpy()
        uniques = {t: parse_category(conversion, t) for t in set(text.tolist())}
        parsed = np.array([uniques[t] if uniques[t] is not None else np.nan for t in text], dtype="float64")
        valid_num = np.isin(num, list(cats)) if cats else ~np.isnan(num)
        out = np.where(valid_num, num, parsed)
        if cats:  # a number outside the categories ("7" for GCS eye) is not a category
            out = np.where(np.isin(out, list(cats)), out, np.nan)
        return out, np.isnan(out)
    if conversion not in CONVERSIONS:
        raise ConfigError(f"unknown unit conversion {conversion!r}")
    # VALUENUM may be empty where VALUE holds the number (CSV exports, text items).
    text_num = pd.to_numeric(value.astype("object"), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    num = np.where(np.isnan(num), text_num, num)
    if conversion == "f_to_c":
        out = (num - 32.0) * 5.0 / 9.0
    elif conversion == "fio2_fraction":
        # Charted as percent (21-100) or as a fraction (0.21-1): mimic3-benchmarks' rule.
        out = np.where(num > 1.0, num / 100.0, num)
    else:
        out = num * _FACTORS[conversion]
    return out, np.isnan(out) | np.isinf(out)


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


# -- events -----------------------------------------------------------------------------------
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


def scan_events(
    con: duckdb.DuckDBPyConnection, src: EventSource, itemids: Sequence[int]
) -> pd.DataFrame:
    """Stream one event table, keeping mapped itemids of cohort stays inside the window.

    Needs a registered ``cohort_stays`` relation (stay_id, subject_id, hadm_id, intime,
    window_end). Returns stay_id, hours, itemid, value, valuenum, error.
    """
    t = src.table
    types = {src.subject: "BIGINT", src.hadm: "BIGINT", src.time: "TIMESTAMP", src.item: "BIGINT"}
    if src.stay:
        types[src.stay] = "BIGINT"
    items = ", ".join(str(int(i)) for i in sorted(set(itemids))) or "NULL"
    icu = t.col(src.stay) if src.stay else "NULL::BIGINT"
    err = f"TRY_CAST({t.col(src.error)} AS INTEGER)" if src.error else "NULL::INTEGER"
    sql = f"""
        SELECT s.stay_id,
               CAST(date_diff('microsecond', s.intime, e.t) / 3.6e9 AS FLOAT) AS hours,
               e.itemid, e.value, e.valuenum, e.error
        FROM (
            SELECT {t.col(src.subject)} AS subject_id, {t.col(src.hadm)} AS hadm_id,
                   {icu} AS icu_id, {t.col(src.time)} AS t, {t.col(src.item)} AS itemid,
                   TRY_CAST({t.col(src.valuenum)} AS DOUBLE) AS valuenum,
                   -- the text only where no number came with it: keeps the result small
                   CASE WHEN TRY_CAST({t.col(src.valuenum)} AS DOUBLE) IS NULL
                        THEN {t.col(src.value)} END AS value, {err} AS error
            FROM {csv_scan(t, types)}
            WHERE {t.col(src.item)} IN ({items})
        ) e
        JOIN cohort_stays s ON {_JOINS[src.join]}
        WHERE e.t >= s.intime AND e.t <= s.window_end
    """
    return query(con, sql, t)


def to_events(
    raw: pd.DataFrame, items: pd.DataFrame, quality: QualityReport, file: str, value_field: str
) -> pd.DataFrame:
    """Convert scanned rows to canonical events, counting every row that is dropped."""
    variables = load_variables()
    if "error" in raw.columns:
        flagged = raw["error"].fillna(0).astype("int64") == 1
        quality.add(file, "ERROR", "row marked as error (ERROR=1)", int(flagged.sum()))
        raw = raw[~flagged]
    parts = []
    # One pass per (variable, conversion) over the itemid column: no per-row string columns.
    for (variable, conversion), group in items.groupby(["variable", "conversion"], sort=True):
        rows = raw[raw["itemid"].isin(group["itemid"])]
        if rows.empty:
            continue
        var = variables[variable]
        values, bad = convert_values(conversion, rows["value"], rows["valuenum"], var.categories)
        if bad.any():
            examples = rows.loc[bad, "value"].dropna().astype(str).str.slice(0, 40).unique()[:3]
            quality.add(file, value_field, f"{variable}: value cannot be converted",
                        int(bad.sum()), example="; ".join(examples) or None)
        ok = ~bad
        outside = ok & ((values < var.valid_low) | (values > var.valid_high))
        quality.add(file, value_field, f"{variable}: outside valid range "
                    f"[{var.valid_low:g}, {var.valid_high:g}] {var.unit}", int(outside.sum()))
        keep = ok & ~outside
        parts.append(pd.DataFrame({
            "stay_id": rows["stay_id"].to_numpy()[keep],
            "hours": rows["hours"].to_numpy()[keep],
            "variable": variable,
            "value": values[keep],
            "unit": var.unit,
        }))
    if not parts:
        return pd.DataFrame({"stay_id": pd.Series(dtype="int64"), "hours": pd.Series(dtype="float32"),
                             "variable": pd.Series(dtype="string"), "value": pd.Series(dtype="float64"),
                             "unit": pd.Series(dtype="string")})
    events = pd.concat(parts, ignore_index=True)
    return events.sort_values(["stay_id", "hours", "variable"], kind="stable").reset_index(drop=True)


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
) -> Cohort:
    """Add height, weight, length of stay and labels to ``stays`` and build the Cohort.

    ``admissions`` (subject_id, hadm_id, admittime, deathtime) and ``patients``
    (subject_id, dod) hold the whole source, so readmissions outside the cohort count.
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
    events = events.sort_values(["stay_id", "hours", "variable"], kind="stable")
    return Cohort(stays=stays[keep], events=events, notes=notes, labels=labels,
                  meta=meta, quality=quality)


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
