"""MIMIC-III v1.4 (as PhysioNet ships it) → the canonical cohort.

Tables are the upper-case CSVs (``.csv`` or ``.csv.gz``): PATIENTS, ADMISSIONS, ICUSTAYS,
CHARTEVENTS, LABEVENTS, NOTEEVENTS, D_ITEMS, D_LABITEMS. Names are matched without regard
to case, so the lower-case MIMIC-III demo works too.

Cohort (mimic3-benchmarks' root rules, every exclusion counted in the quality report):
adult ICU stays (age >= 18) of admissions left with exactly one ICU stay once stays with an
ICU transfer are removed. MIMIC-III shifts the date of birth of patients older than 89 so
their age reads about 300; such ages are set to 91.4, the median age of that group according
to the MIMIC-III documentation. Stays shorter than ``window_hours`` stay in the cohort with
NA labels.

Prediction-time cut: events with CHARTTIME in [INTIME, INTIME + window_hours]; notes of the
admission whose CHARTTIME (or, with only a CHARTDATE, the end of that day, so that a note
written later that day cannot leak) is at or before INTIME + window_hours. Notes with
ISERROR = 1 and discharge summaries are excluded and counted.

PRESCRIPTIONS (optional): the admission's orders become the cohort's ``medications`` table
(DRUG, ROUTE). STARTDATE is a date, so an order is known at the end of its start day and
kept when that is at or before INTIME + window_hours; ENDDATE is never read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from realm.cache import inputs_digest
from realm.data.cohort import Cohort
from realm.data.quality import QualityReport
from realm.data.readers.mimic_common import (
    apply_cohort_rules,
    build_cohort,
    collect_medications,
    collect_notes,
    register_stays,
)
from realm.data.readers.mimic_events import EventCollector, EventSource, load_itemids
from realm.data.readers.mimic_tables import TableFile, csv_scan, duck, find_table, query
from realm.errors import ConfigError

__all__ = ["read_mimic3", "REQUIRED_COLUMNS", "AGE_OVER_89"]

log = logging.getLogger(__name__)

#: Age given to patients whose shifted date of birth makes them older than 89.
AGE_OVER_89 = 91.4

#: The columns read from each table (upper case, as in v1.4).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "PATIENTS": ("SUBJECT_ID", "GENDER", "DOB", "DOD"),
    "ADMISSIONS": ("SUBJECT_ID", "HADM_ID", "ADMITTIME", "DISCHTIME", "DEATHTIME", "INSURANCE",
                   "ETHNICITY", "HOSPITAL_EXPIRE_FLAG"),
    "ICUSTAYS": ("SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "FIRST_CAREUNIT", "LAST_CAREUNIT",
                 "FIRST_WARDID", "LAST_WARDID", "INTIME", "OUTTIME"),
    "CHARTEVENTS": ("SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "ITEMID", "CHARTTIME", "VALUE",
                    "VALUENUM", "VALUEUOM", "ERROR"),
    "LABEVENTS": ("SUBJECT_ID", "HADM_ID", "ITEMID", "CHARTTIME", "VALUE", "VALUENUM", "VALUEUOM"),
    "NOTEEVENTS": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "CATEGORY",
                   "ISERROR", "TEXT"),
    "D_ITEMS": ("ITEMID", "LABEL"),
    "D_LABITEMS": ("ITEMID", "LABEL"),
}
OPTIONAL_TABLES = ("DIAGNOSES_ICD", "PRESCRIPTIONS")
#: The PRESCRIPTIONS columns read when the table is present.
PRESCRIPTION_COLUMNS = ("HADM_ID", "STARTDATE", "DRUG")


def _small_tables(con, t: dict[str, TableFile]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """PATIENTS, ADMISSIONS and ICUSTAYS with lower-case column names."""
    p = t["PATIENTS"]
    patients = query(con, f"""
        SELECT {p.col('SUBJECT_ID')} AS subject_id, {p.col('GENDER')} AS sex,
               {p.col('DOB')} AS dob, {p.col('DOD')} AS dod
        FROM {csv_scan(p, {'SUBJECT_ID': 'BIGINT', 'DOB': 'TIMESTAMP', 'DOD': 'TIMESTAMP'})}""", p)
    a = t["ADMISSIONS"]
    admissions = query(con, f"""
        SELECT {a.col('SUBJECT_ID')} AS subject_id, {a.col('HADM_ID')} AS hadm_id,
               {a.col('ADMITTIME')} AS admittime, {a.col('DISCHTIME')} AS dischtime,
               {a.col('DEATHTIME')} AS deathtime, {a.col('INSURANCE')} AS insurance,
               {a.col('ETHNICITY')} AS ethnicity,
               {a.col('HOSPITAL_EXPIRE_FLAG')} AS hospital_expire_flag
        FROM {csv_scan(a, {'SUBJECT_ID': 'BIGINT', 'HADM_ID': 'BIGINT', 'ADMITTIME': 'TIMESTAMP',
                           'DISCHTIME': 'TIMESTAMP', 'DEATHTIME': 'TIMESTAMP',
                           'HOSPITAL_EXPIRE_FLAG': 'INTEGER'})}""", a)
    i = t["ICUSTAYS"]
    icu = query(con, f"""
        SELECT {i.col('ICUSTAY_ID')} AS stay_id, {i.col('SUBJECT_ID')} AS subject_id,
               {i.col('HADM_ID')} AS hadm_id, {i.col('INTIME')} AS intime,
               {i.col('OUTTIME')} AS outtime, {i.col('FIRST_CAREUNIT')} AS first_unit,
               {i.col('LAST_CAREUNIT')} AS last_unit, {i.col('FIRST_WARDID')} AS first_ward,
               {i.col('LAST_WARDID')} AS last_ward
        FROM {csv_scan(i, {'ICUSTAY_ID': 'BIGINT', 'SUBJECT_ID': 'BIGINT', 'HADM_ID': 'BIGINT',
                           'INTIME': 'TIMESTAMP', 'OUTTIME': 'TIMESTAMP'})}""", i)
    return patients, admissions, icu


def _stays(icu: pd.DataFrame, patients: pd.DataFrame, admissions: pd.DataFrame,
           quality: QualityReport, file: str) -> pd.DataFrame:
    """Join patients and admissions onto ICU stays, compute age and apply the cohort rules."""
    icu = icu.merge(patients[["subject_id", "sex", "dob"]], on="subject_id", how="left")
    age = (icu["intime"] - icu["dob"]).dt.total_seconds() / (365.2425 * 86400.0)
    icu["age"] = age.where(~(age > 89.0), AGE_OVER_89)  # shifted dates of birth (see docstring)
    stays = apply_cohort_rules(icu, admissions, quality, file)
    stays = stays.merge(admissions.drop(columns=["subject_id"]), on="hadm_id", how="left")
    return stays.rename(columns={"first_unit": "icu_type"})


def _notes(con, table: TableFile, quality: QualityReport) -> tuple[pd.DataFrame, int]:
    def c(name: str) -> str:
        return "n." + table.col(name)

    when = f"COALESCE({c('CHARTTIME')}, CAST({c('CHARTDATE')} AS TIMESTAMP) + INTERVAL 1 DAY)"
    scan = csv_scan(table, {"ROW_ID": "BIGINT", "HADM_ID": "BIGINT", "CHARTDATE": "DATE",
                            "CHARTTIME": "TIMESTAMP"})
    sql = f"""
        SELECT CAST({c('ROW_ID')} AS VARCHAR) AS note_id, s.stay_id,
               date_diff('microsecond', s.intime, {when}) / 3.6e9 AS hours,
               trim({c('CATEGORY')}) AS category,
               CASE WHEN TRY_CAST({c('ISERROR')} AS INTEGER) = 1 THEN 'iserror'
                    WHEN lower(trim({c('CATEGORY')})) = 'discharge summary' THEN 'discharge'
                    WHEN {when} IS NULL THEN 'notime'
                    WHEN {when} > s.window_end THEN 'after'
                    ELSE 'ok' END AS reason,
               {c('TEXT')} AS text
        FROM {scan} n JOIN cohort_stays s ON {c('HADM_ID')} = s.hadm_id"""
    n = table
    notes, counts = collect_notes(con, sql, n)
    quality.add(n.name, "ISERROR", "note marked as error (ISERROR=1)", counts.get("iserror", 0))
    quality.add(n.name, "CATEGORY", "discharge summary (written at discharge)",
                counts.get("discharge", 0))
    quality.add(n.name, "CHARTTIME", "note without CHARTTIME or CHARTDATE", counts.get("notime", 0))
    return notes, counts.get("after", 0)


def _unknown_itemids(con, table: TableFile, itemids: pd.Series) -> list[int]:
    """Mapped itemids that the dictionary table (D_ITEMS / D_LABITEMS) does not list."""
    known = query(con, f"SELECT DISTINCT {table.col('ITEMID')} AS itemid "
                       f"FROM {csv_scan(table, {'ITEMID': 'BIGINT'})}", table)
    return sorted(set(int(i) for i in itemids) - set(known["itemid"].dropna().astype(int)))


def read_mimic3(
    root: Path,
    *,
    window_hours: float = 48.0,
    labs: Sequence[str] | None = None,
    progress: bool = True,
    memory_limit: str = "2GB",
) -> Cohort:
    """Read a MIMIC-III v1.4 folder into a :class:`Cohort` (see the module docstring).

    ``labs`` chooses LABEVENTS variables by canonical name (default: the twelve of
    :data:`~realm.data.readers.mimic_events.DEFAULT_LABS`); ``memory_limit`` bounds DuckDB,
    which spills to a temporary folder beyond it.
    """
    root = Path(root)
    if not window_hours > 0:
        raise ConfigError(f"window_hours must be positive, got {window_hours}")
    items, lab_names, map_version = load_itemids("mimic3", labs)
    tables = {name: find_table(root, name, cols) for name, cols in REQUIRED_COLUMNS.items()}
    optional = [n for n in OPTIONAL_TABLES if find_table(root, n, (), optional=True)]
    prescriptions = find_table(root, "PRESCRIPTIONS", PRESCRIPTION_COLUMNS, optional=True)
    quality = QualityReport()
    steps = ["patients, admissions, ICU stays", "CHARTEVENTS", "LABEVENTS", "NOTEEVENTS", "PRESCRIPTIONS"]
    with duck(memory_limit) as con, tqdm(total=len(steps), desc="MIMIC-III", unit="table",
                                         disable=not progress) as bar:
        bar.set_postfix_str(steps[0])
        patients, admissions, icu = _small_tables(con, tables)
        stays = _stays(icu, patients, admissions, quality, tables["ICUSTAYS"].name)
        log.info("MIMIC-III: %d ICU stays in the cohort of %d", len(stays), len(icu))
        register_stays(con, stays, window_hours)
        unknown = (_unknown_itemids(con, tables["D_ITEMS"], items.loc[items["table"] == "chartevents", "itemid"])
                   + _unknown_itemids(con, tables["D_LABITEMS"], items.loc[items["table"] == "labevents", "itemid"]))
        bar.update()
        events = EventCollector(items, quality)
        for name, join, extra in (("CHARTEVENTS", "hadm_stay", {"stay": "ICUSTAY_ID", "error": "ERROR"}),
                                  ("LABEVENTS", "subject", {"stay": None})):
            bar.set_postfix_str(name)
            src = EventSource(table=tables[name], subject="SUBJECT_ID", hadm="HADM_ID",
                              time="CHARTTIME", item="ITEMID", value="VALUE", valuenum="VALUENUM",
                              unit="VALUEUOM", join=join, **extra)
            seen = events.scan(con, src, name.lower(), "VALUE")
            log.info("MIMIC-III: %d %s rows inside the window", seen, name)
            bar.update()
        bar.set_postfix_str(steps[3])
        notes, late_notes = _notes(con, tables["NOTEEVENTS"], quality)
        bar.update()
        bar.set_postfix_str(steps[4])
        medications, late_orders = None, {}
        if prescriptions is not None:
            medications, late_orders = collect_medications(con, prescriptions, quality,
                                                           start="STARTDATE", date_only=True)
        bar.update()
    if unknown:
        log.warning("MIMIC-III: %d mapped itemids absent from D_ITEMS/D_LABITEMS (e.g. %s)",
                    len(unknown), unknown[:10])
    meta = {
        "labs": lab_names,
        "itemid_table": f"mimic3_itemids.csv@{map_version}",
        "memory_limit": memory_limit,
        "input_digest": inputs_digest([t.path for t in tables.values()]
                                      + ([prescriptions.path] if prescriptions is not None else [])),
        "optional_tables_present": optional,
        "itemids_not_in_dictionary": unknown,
        "notes_after_window": late_notes,
        "orders_after_window": late_orders.get("after", 0),
    }
    return build_cohort(
        stays, events.frame(), notes,
        admissions[["subject_id", "hadm_id", "admittime", "deathtime"]],
        patients[["subject_id", "dod"]],
        source="mimic3", window_hours=window_hours, quality=quality, meta=meta,
        medications=medications,
    )
