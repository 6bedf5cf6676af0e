"""MIMIC-III v1.4 and MIMIC-IV 2.x/3.x → the canonical cohort, one reader for both.

What differs between the source versions (where each table lives, what its columns are
called, how age is computed, how event rows join to stays, which notes are read) is data:
a layout under ``layouts/`` (see :mod:`~realm.data.readers.mimic_layout`). The rules below
hold for every layout.

Cohort (mimic3-benchmarks' root rules, every exclusion counted in the quality report):
adult ICU stays (age >= 18) of admissions left with exactly one ICU stay once stays with an
ICU transfer are removed. Stays shorter than ``window_hours`` stay in the cohort with NA
labels.

Prediction-time cut: chart and lab events timed in [INTIME, INTIME + window_hours]; notes
of the admission timed at or before INTIME + window_hours (a note with only a date counts
at the end of that day, so a note written later that day cannot leak). Notes the layout
excludes (retracted, or written at discharge) are counted, never read.

Drug orders (optional table) become the cohort's ``medications`` table: orders of the
admission known by INTIME + window_hours (an order whose start holds only a day is known
at the end of it). When an order stopped is never read: it can tell how the stay ended.

Malformed rows (a value that is not of its column's type: an unparseable time or id, a
VALUENUM that is not a number; too few or too many fields; an id listed twice) are counted
in the quality report by file, field and reason, with row numbers or ids as examples, and
skipped; with ``strict`` the first one raises :class:`DataError`. A missing table or column
is always an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
from tqdm.auto import tqdm

from realm.cache import inputs_digest
from realm.data.cohort import Cohort
from realm.data.quality import QualityReport
from realm.data.readers.mimic_cohort import (
    apply_cohort_rules,
    build_cohort,
    collect_medications,
    collect_notes,
    register_stays,
)
from realm.data.readers.mimic_events import EventCollector, EventSource, load_itemids
from realm.data.readers.mimic_layout import AGE_RULES, MimicLayout, TableLayout, load_layout
from realm.data.readers.mimic_tables import (
    TableFile,
    count_rejects,
    csv_scan,
    duck,
    find_table,
    query,
)
from realm.errors import ConfigError, DataError

__all__ = ["read_mimic"]

log = logging.getLogger(__name__)

#: The type each role is read as unless the layout's ``types`` says otherwise; roles not
#: listed are read as text.
ROLE_TYPES: dict[str, str] = {
    "subject_id": "BIGINT", "hadm_id": "BIGINT", "stay_id": "BIGINT", "itemid": "BIGINT",
    "dob": "TIMESTAMP", "dod": "TIMESTAMP", "admittime": "TIMESTAMP", "dischtime": "TIMESTAMP",
    "deathtime": "TIMESTAMP", "intime": "TIMESTAMP", "outtime": "TIMESTAMP",
    "time": "TIMESTAMP", "date": "DATE", "start": "TIMESTAMP",
    "anchor_age": "DOUBLE", "anchor_year": "INTEGER", "hospital_expire_flag": "INTEGER",
}
EVENT_TABLES = ("chartevents", "labevents")


def _present(table: TableFile, layout: TableLayout, role: str) -> str | None:
    """The source's name of ``role`` when the layout names it and the file has it."""
    name = layout.column(role)
    return name if name is not None and table.has(name) else None


def _scan(table: TableFile, layout: TableLayout, roles: Sequence[str]) -> str:
    """``csv_scan`` of ``table`` typing the columns of ``roles``."""
    types: dict[str, str] = {}
    for role in roles:
        kind = layout.types.get(role, ROLE_TYPES.get(role))
        name = _present(table, layout, role)
        if kind is not None and name is not None:
            types[name] = kind
    return csv_scan(table, types)


def _select(con: duckdb.DuckDBPyConnection, table: TableFile, layout: TableLayout,
            roles: Sequence[str], quality: QualityReport) -> pd.DataFrame:
    """The ``roles`` of a small table, each column named by its role (rows that cannot be
    parsed counted in ``quality`` and skipped, when the table allows it)."""
    cols = ", ".join(f"{table.col(layout.columns[r])} AS {r}" for r in roles)
    frame = query(con, f"SELECT {cols} FROM {_scan(table, layout, roles)}", table)
    count_rejects(con, table, quality, read=len(frame))
    return frame


def _unique(frame: pd.DataFrame, role: str, table: TableFile, layout: TableLayout,
            quality: QualityReport) -> pd.DataFrame:
    """``frame`` with each ``role`` id once: later rows repeating an id are counted and
    skipped (a DataError when the table does not skip bad rows)."""
    repeated = frame[role].notna() & frame.duplicated(role, keep="first")
    if not repeated.any():
        return frame
    field_name = layout.columns[role]
    first = frame.loc[repeated, role].iloc[0]
    if not table.skip_bad_rows:
        raise DataError(f"{field_name} {first} appears more than once", path=table.path,
                        field=field_name)
    ids = [str(i) for i in frame.loc[repeated, role].iloc[:3]]
    quality.add(table.name, field_name, "id listed more than once, later rows skipped",
                int(repeated.sum()), example=f"{field_name} " + ", ".join(ids))
    return frame[~repeated].reset_index(drop=True)


def _find_tables(root: Path, layout: MimicLayout, strict: bool,
                 max_bad_fraction: float) -> dict[str, TableFile]:
    """The tables of the layout that exist, in its order (a required one missing raises)."""
    found: dict[str, TableFile] = {}
    for key, t in layout.tables.items():
        table = find_table(root / t.folder, t.file, tuple(t.columns.values()), optional=t.optional,
                           skip_bad_rows=not strict, max_bad_fraction=max_bad_fraction)
        if table is not None:
            found[key] = table
    return found


def _age(stays: pd.DataFrame, layout: MimicLayout) -> pd.Series:
    """Age in years at ICU admission by the layout's rule."""
    if layout.age_rule == "date_of_birth":
        age = (stays["intime"] - stays["dob"]).dt.total_seconds() / (365.2425 * 86400.0)
        if layout.age_over_89 is not None:  # shifted dates of birth (see the layout)
            age = age.where(~(age > 89.0), layout.age_over_89)
        return age
    return (stays["anchor_age"] + (stays["intime"].dt.year - stays["anchor_year"])).astype("float64")


def _stays(con: duckdb.DuckDBPyConnection, layout: MimicLayout, tables: dict[str, TableFile],
           quality: QualityReport) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """The cohort's stays (rules applied), all admissions and patients, and the number of
    ICU stays before the rules."""
    lay = layout.tables
    age_roles = AGE_RULES[layout.age_rule]
    patients = _select(con, tables["patients"], lay["patients"],
                       ("subject_id", "sex", *age_roles, "dod"), quality)
    admissions = _select(con, tables["admissions"], lay["admissions"],
                         ("subject_id", "hadm_id", "admittime", "dischtime", "deathtime",
                          "insurance", "ethnicity", "hospital_expire_flag"), quality)
    wards = tuple(r for r in ("first_ward", "last_ward") if lay["icustays"].column(r))
    icu = _select(con, tables["icustays"], lay["icustays"],
                  ("stay_id", "subject_id", "hadm_id", "intime", "outtime", "first_unit",
                   "last_unit", *wards), quality)
    # An id twice would copy a stay in the joins below (or give one stay two rows).
    patients = _unique(patients, "subject_id", tables["patients"], lay["patients"], quality)
    admissions = _unique(admissions, "hadm_id", tables["admissions"], lay["admissions"], quality)
    icu = _unique(icu, "stay_id", tables["icustays"], lay["icustays"], quality)
    stays = icu.merge(patients[["subject_id", "sex", *age_roles]], on="subject_id", how="left")
    stays["age"] = _age(stays, layout)
    stays = apply_cohort_rules(stays, admissions, quality, tables["icustays"].name)
    stays = stays.merge(admissions.drop(columns=["subject_id"]), on="hadm_id", how="left")
    return stays.rename(columns={"first_unit": "icu_type"}), admissions, patients, len(icu)


def _unknown_itemids(con: duckdb.DuckDBPyConnection, table: TableFile, layout: TableLayout,
                     itemids: pd.Series, quality: QualityReport) -> list[int]:
    """Mapped itemids that the dictionary table (D_ITEMS / D_LABITEMS) does not list."""
    known = _select(con, table, layout, ("itemid",), quality)
    return sorted(set(int(i) for i in itemids) - set(known["itemid"].dropna().astype(int)))


def _event_source(table: TableFile, layout: TableLayout) -> EventSource:
    cols = layout.columns
    return EventSource(table=table, subject=cols["subject_id"], hadm=cols["hadm_id"],
                       stay=_present(table, layout, "stay_id"), time=cols["time"],
                       item=cols["itemid"], value=cols["value"], valuenum=cols["valuenum"],
                       unit=cols["unit"], join=layout.options["join"],
                       error=_present(table, layout, "error"))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _notes(con: duckdb.DuckDBPyConnection, table: TableFile | None, layout: TableLayout,
           quality: QualityReport, label: str) -> tuple[pd.DataFrame, int]:
    """The notes read as features, and how many of them came after the prediction time."""
    if table is None:
        log.warning("%s: no %s table; the cohort has no notes",
                    label, "/".join(p for p in (layout.folder, layout.file) if p))
        return pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")}), 0

    def c(name: str) -> str:
        return "n." + table.col(name)

    cols = layout.columns
    date, error = _present(table, layout, "date"), _present(table, layout, "error")
    category_col = _present(table, layout, "category")
    when = f"COALESCE({c(cols['time'])}, CAST({c(date)} AS TIMESTAMP) + INTERVAL 1 DAY)" if date else c(cols["time"])
    category = f"trim({c(category_col)})" if category_col else _sql_text(layout.options["category"])
    cases = []
    if error:
        cases.append(f"WHEN TRY_CAST({c(error)} AS INTEGER) = 1 THEN 'error'")
    excluded = layout.options.get("exclude_category")
    if excluded and category_col:
        cases.append(f"WHEN lower(trim({c(category_col)})) = {_sql_text(excluded.lower())} THEN 'excluded'")
    roles = [r for r in ("note_id", "hadm_id", "time", "date") if _present(table, layout, r)]
    sql = f"""
        SELECT CAST({c(cols['note_id'])} AS VARCHAR) AS note_id, s.stay_id,
               date_diff('microsecond', s.intime, {when}) / 3.6e9 AS hours,
               {category} AS category,
               CASE {' '.join(cases)}
                    WHEN {when} IS NULL THEN 'notime'
                    WHEN {when} > s.window_end THEN 'after'
                    ELSE 'ok' END AS reason,
               {c(cols['text'])} AS text
        FROM {_scan(table, layout, roles)} n JOIN cohort_stays s ON {c(cols['hadm_id'])} = s.hadm_id"""
    notes, counts = collect_notes(con, sql, table)
    count_rejects(con, table, quality)
    if error:
        quality.add(table.name, error, f"note marked as error ({error}=1)", counts.get("error", 0))
    if excluded and category_col:
        quality.add(table.name, category_col, layout.options["exclude_reason"],
                    counts.get("excluded", 0))
    time = cols["time"]
    quality.add(table.name, time, f"note without {time}" + (f" or {date}" if date else ""),
                counts.get("notime", 0))
    return notes, counts.get("after", 0)


def _count_notes(con: duckdb.DuckDBPyConnection, table: TableFile, layout: TableLayout,
                 quality: QualityReport) -> None:
    """Count the cohort's notes of a table that is never read as features."""
    n = query(con, f"""SELECT count(*) AS n FROM {_scan(table, layout, ("hadm_id",))} d
                       WHERE d.{table.col(layout.columns["hadm_id"])}
                             IN (SELECT hadm_id FROM cohort_stays)""", table)
    count_rejects(con, table, quality)
    quality.add(table.name, layout.options["count_field"], layout.options["count_reason"],
                int(n["n"].iloc[0]))


def read_mimic(
    root: Path,
    layout: MimicLayout | str | Path,
    *,
    window_hours: float = 48.0,
    labs: Sequence[str] | None = None,
    progress: bool = True,
    memory_limit: str = "2GB",
    strict: bool = False,
    max_bad_fraction: float = 0.5,
) -> Cohort:
    """Read a MIMIC folder into a :class:`Cohort` (see the module docstring).

    ``layout`` is a loaded layout, a shipped layout's name (``"mimic3"``, ``"mimic4"``) or a
    layout YAML. ``labs`` chooses lab variables by canonical name (default: the twelve of
    :data:`~realm.data.readers.mimic_events.DEFAULT_LABS`); ``memory_limit`` bounds DuckDB,
    which spills to a temporary folder beyond it. ``strict`` raises :class:`DataError` at
    the first malformed row instead of counting and skipping it. A table with more than
    ``max_bad_fraction`` of its rows malformed is unreadable (a DataError naming the file),
    as in the PhysioNet reader.
    """
    root = Path(root)
    if not isinstance(layout, MimicLayout):
        layout = load_layout(layout)
    if not window_hours > 0:
        raise ConfigError(f"window_hours must be positive, got {window_hours}")
    items, lab_names, map_version = load_itemids(layout.itemids, labs)
    lay = layout.tables
    tables = _find_tables(root, layout, strict, max_bad_fraction)
    quality = QualityReport()
    steps = ["patients, admissions, ICU stays", *(lay[k].file for k in EVENT_TABLES), "notes",
             "prescriptions"]
    with duck(memory_limit) as con, tqdm(total=len(steps), desc=layout.label, unit="table",
                                         disable=not progress) as bar:
        bar.set_postfix_str(steps[0])
        stays, admissions, patients, n_icu = _stays(con, layout, tables, quality)
        log.info("%s: %d ICU stays in the cohort of %d", layout.label, len(stays), n_icu)
        register_stays(con, stays, window_hours)
        unknown: list[int] = []
        for key in EVENT_TABLES:
            dictionary = lay[key].options["dictionary"]
            unknown += _unknown_itemids(con, tables[dictionary], lay[dictionary],
                                        items.loc[items["table"] == key, "itemid"], quality)
        bar.update()
        events = EventCollector(items, quality)
        for key in EVENT_TABLES:
            bar.set_postfix_str(lay[key].file)
            seen = events.scan(con, _event_source(tables[key], lay[key]), key, lay[key].columns["value"])
            log.info("%s: %d %s rows inside the window", layout.label, seen, lay[key].file)
            bar.update()
        bar.set_postfix_str("notes")
        notes, late_notes = _notes(con, tables.get("notes"), lay["notes"], quality, layout.label)
        if "discharge_notes" in tables:
            _count_notes(con, tables["discharge_notes"], lay["discharge_notes"], quality)
        bar.update()
        bar.set_postfix_str("prescriptions")
        medications, late_orders = None, {}
        if "prescriptions" in tables:
            rx, rx_table = lay["prescriptions"], tables["prescriptions"]
            medications, late_orders = collect_medications(
                con, rx_table, quality, hadm=rx.columns["hadm_id"], start=rx.columns["start"],
                drug=rx.columns["drug"], route=_present(rx_table, rx, "route"),
                date_only=rx.options["date_only"])
        bar.update()
    if unknown:
        log.warning("%s: %d mapped itemids absent from the item dictionaries (e.g. %s)",
                    layout.label, len(unknown), unknown[:10])
    meta = {
        "labs": lab_names,
        "itemid_table": f"{layout.itemids}@{map_version}",
        "memory_limit": memory_limit,
        "input_digest": inputs_digest([t.path for t in tables.values()]),
        "optional_tables_present": [lay[k].file for k in tables if lay[k].optional],
        "itemids_not_in_dictionary": unknown,
        "note_tables": [tables[k].name for k in ("notes", "discharge_notes") if k in tables],
        "notes_after_window": late_notes,
        "orders_after_window": late_orders.get("after", 0),
    }
    return build_cohort(
        stays, events.frame(), notes,
        admissions[["subject_id", "hadm_id", "admittime", "deathtime"]],
        patients[["subject_id", "dod"]],
        source=layout.source, window_hours=window_hours, quality=quality, meta=meta,
        medications=medications,
    )
