"""MIMIC-IV 2.x/3.x (and optionally MIMIC-IV-Note) → the canonical cohort.

The root holds ``hosp/`` and ``icu/`` (lower-case ``.csv.gz`` or ``.csv``) and optionally
``note/`` with ``radiology`` and ``discharge``. The cohort rules, itemid map (MetaVision
itemids are shared with MIMIC-III), unit conversions and labels are those of the MIMIC-III
reader, through the shared ``mimic_*`` modules beside this one. Differences:

- age = anchor_age + (year(intime) - anchor_year); MIMIC-IV already caps anchor_age at 91;
- an ICU transfer is first_careunit != last_careunit (MIMIC-IV has no ward ids);
- ethnicity is the ``race`` column;
- notes: radiology reports of the admission charted at or before INTIME + window_hours.
  Discharge notes are written at discharge, after any prediction time, so they are never
  read as features; the cohort's are counted in the quality report. Radiology reports
  without an hadm_id are not attributed to a stay;
- ``hosp/prescriptions`` (optional) becomes the ``medications`` table: orders of the
  admission whose ``starttime`` is at or before INTIME + window_hours (``stoptime`` is
  never read).
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

__all__ = ["read_mimic4", "REQUIRED_COLUMNS"]

log = logging.getLogger(__name__)

#: (module folder, table) -> the columns read from it.
REQUIRED_COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("hosp", "patients"): ("subject_id", "gender", "anchor_age", "anchor_year", "dod"),
    ("hosp", "admissions"): ("subject_id", "hadm_id", "admittime", "dischtime", "deathtime",
                             "insurance", "race", "hospital_expire_flag"),
    ("icu", "icustays"): ("subject_id", "hadm_id", "stay_id", "first_careunit", "last_careunit",
                          "intime", "outtime"),
    ("icu", "chartevents"): ("subject_id", "hadm_id", "stay_id", "charttime", "itemid", "value",
                             "valuenum", "valueuom"),
    ("hosp", "labevents"): ("subject_id", "hadm_id", "itemid", "charttime", "value", "valuenum",
                            "valueuom"),
    ("icu", "d_items"): ("itemid", "label"),
    ("hosp", "d_labitems"): ("itemid", "label"),
}
NOTE_COLUMNS = ("note_id", "subject_id", "hadm_id", "charttime", "text")
#: The hosp/prescriptions columns read when the table is present.
PRESCRIPTION_COLUMNS = ("hadm_id", "starttime", "drug")


def _small_tables(con, t: dict[str, TableFile]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    p = t["patients"]
    patients = query(con, f"""
        SELECT subject_id, gender AS sex, anchor_age, anchor_year, CAST(dod AS TIMESTAMP) AS dod
        FROM {csv_scan(p, {'subject_id': 'BIGINT', 'anchor_age': 'DOUBLE', 'anchor_year': 'INTEGER',
                           'dod': 'DATE'})}""", p)
    a = t["admissions"]
    admissions = query(con, f"""
        SELECT subject_id, hadm_id, admittime, dischtime, deathtime, insurance,
               race AS ethnicity, hospital_expire_flag
        FROM {csv_scan(a, {'subject_id': 'BIGINT', 'hadm_id': 'BIGINT', 'admittime': 'TIMESTAMP',
                           'dischtime': 'TIMESTAMP', 'deathtime': 'TIMESTAMP',
                           'hospital_expire_flag': 'INTEGER'})}""", a)
    i = t["icustays"]
    icu = query(con, f"""
        SELECT stay_id, subject_id, hadm_id, intime, outtime,
               first_careunit AS first_unit, last_careunit AS last_unit
        FROM {csv_scan(i, {'stay_id': 'BIGINT', 'subject_id': 'BIGINT', 'hadm_id': 'BIGINT',
                           'intime': 'TIMESTAMP', 'outtime': 'TIMESTAMP'})}""", i)
    return patients, admissions, icu


def _stays(icu: pd.DataFrame, patients: pd.DataFrame, admissions: pd.DataFrame,
           quality: QualityReport, file: str) -> pd.DataFrame:
    icu = icu.merge(patients[["subject_id", "sex", "anchor_age", "anchor_year"]],
                    on="subject_id", how="left")
    icu["age"] = (icu["anchor_age"] + (icu["intime"].dt.year - icu["anchor_year"])).astype("float64")
    stays = apply_cohort_rules(icu, admissions, quality, file)
    stays = stays.merge(admissions.drop(columns=["subject_id"]), on="hadm_id", how="left")
    return stays.rename(columns={"first_unit": "icu_type"})


def _notes(con, root: Path, quality: QualityReport) -> tuple[pd.DataFrame, dict]:
    """Radiology reports inside the window; discharge notes of the cohort counted."""
    folder = root / "note"
    radiology = find_table(folder, "radiology", NOTE_COLUMNS, optional=True)
    discharge = find_table(folder, "discharge", NOTE_COLUMNS, optional=True)
    info: dict = {"note_tables": [t.name for t in (radiology, discharge) if t is not None]}
    if radiology is None:
        log.warning("MIMIC-IV: no note/radiology table; the cohort has no notes")
        return pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")}), info
    r = radiology
    sql = f"""
        SELECT CAST(r.note_id AS VARCHAR) AS note_id, s.stay_id,
               date_diff('microsecond', s.intime, r.charttime) / 3.6e9 AS hours,
               'Radiology' AS category,
               CASE WHEN r.charttime IS NULL THEN 'notime'
                    WHEN r.charttime > s.window_end THEN 'after' ELSE 'ok' END AS reason,
               r.text AS text
        FROM {csv_scan(r, {'hadm_id': 'BIGINT', 'charttime': 'TIMESTAMP'})} r
        JOIN cohort_stays s ON r.hadm_id = s.hadm_id"""
    notes, counts = collect_notes(con, sql, r)
    quality.add(r.name, "charttime", "note without charttime", counts.get("notime", 0))
    info["notes_after_window"] = counts.get("after", 0)
    if discharge is not None:
        d = discharge
        n = query(con, f"""SELECT count(*) AS n FROM {csv_scan(d, {'hadm_id': 'BIGINT'})} d
                           WHERE d.hadm_id IN (SELECT hadm_id FROM cohort_stays)""", d)
        quality.add(d.name, "note_type", "discharge note (written at discharge)", int(n["n"].iloc[0]))
    return notes, info


def read_mimic4(
    root: Path,
    *,
    window_hours: float = 48.0,
    labs: Sequence[str] | None = None,
    progress: bool = True,
    memory_limit: str = "2GB",
) -> Cohort:
    """Read a MIMIC-IV folder (hosp/, icu/, optional note/) into a :class:`Cohort`.

    Arguments as :func:`realm.data.readers.mimic3.read_mimic3`.
    """
    root = Path(root)
    if not window_hours > 0:
        raise ConfigError(f"window_hours must be positive, got {window_hours}")
    items, lab_names, map_version = load_itemids("mimic4", labs)
    tables = {name: find_table(root / module, name, cols)
              for (module, name), cols in REQUIRED_COLUMNS.items()}
    prescriptions = find_table(root / "hosp", "prescriptions", PRESCRIPTION_COLUMNS, optional=True)
    quality = QualityReport()
    steps = ["patients, admissions, ICU stays", "chartevents", "labevents", "notes", "prescriptions"]
    with duck(memory_limit) as con, tqdm(total=len(steps), desc="MIMIC-IV", unit="table",
                                         disable=not progress) as bar:
        bar.set_postfix_str(steps[0])
        patients, admissions, icu = _small_tables(con, tables)
        stays = _stays(icu, patients, admissions, quality, tables["icustays"].name)
        log.info("MIMIC-IV: %d ICU stays in the cohort of %d", len(stays), len(icu))
        register_stays(con, stays, window_hours)
        bar.update()
        events = EventCollector(items, quality)
        for name, join, stay in (("chartevents", "stay", "stay_id"), ("labevents", "subject", None)):
            bar.set_postfix_str(name)
            src = EventSource(table=tables[name], subject="subject_id", hadm="hadm_id", stay=stay,
                              time="charttime", item="itemid", value="value", valuenum="valuenum",
                              unit="valueuom", join=join)
            seen = events.scan(con, src, name, "value")
            log.info("MIMIC-IV: %d %s rows inside the window", seen, name)
            bar.update()
        bar.set_postfix_str(steps[3])
        notes, note_info = _notes(con, root, quality)
        bar.update()
        bar.set_postfix_str(steps[4])
        medications, late_orders = None, {}
        if prescriptions is not None:
            medications, late_orders = collect_medications(con, prescriptions, quality,
                                                           start="starttime", date_only=False)
        bar.update()
    meta = {
        "labs": lab_names,
        "itemid_table": f"mimic4_itemids.csv@{map_version}",
        "memory_limit": memory_limit,
        "input_digest": inputs_digest([t.path for t in tables.values()]
                                      + ([prescriptions.path] if prescriptions is not None else [])),
        "orders_after_window": late_orders.get("after", 0),
        **note_info,
    }
    return build_cohort(
        stays, events.frame(), notes,
        admissions[["subject_id", "hadm_id", "admittime", "deathtime"]],
        patients[["subject_id", "dod"]],
        source="mimic4", window_hours=window_hours, quality=quality, meta=meta,
        medications=medications,
    )
