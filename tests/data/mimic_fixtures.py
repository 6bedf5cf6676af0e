"""Tiny MIMIC-III v1.4 and MIMIC-IV databases in the real file formats, with known answers.

One scenario, written in both formats (``.csv`` or ``.csv.gz``). ICU stays, hours after
INTIME and the expected outcome:

stay 1000 (subject 1)  72 h, died in hospital              mortality 1, readmission NA
stay 2000 (subject 2)  60 h, readmitted exactly 30 d later  mortality 0, readmission 1
stay 2001 (subject 2)  47.9 h (the readmission)             both NA
stay 3000 (subject 3)  60 h, readmitted 30 d + 1 min later  mortality 0, readmission 0
stay 4000 (subject 4)  60 h, died 29 d after discharge      mortality 0, readmission 1
stay 5000 (subject 5)  age 10                               excluded: age under 18
stay 6000 (subject 6)  MICU -> SICU                         excluded: ICU transfer
stays 7000, 7001 (subject 7) one admission, two ICU stays   excluded (2 stays)
stay 8000 (subject 8)  age > 89                             MIMIC-III age 91.4

Stay 1000 carries the unit, text and window cases; see ``STAY1_EVENTS``.
"""

from __future__ import annotations

import csv
import gzip
from datetime import datetime, timedelta
from pathlib import Path

from realm.resources import resource_path

T0 = datetime(2101, 1, 1, 8, 0, 0)
FMT = "%Y-%m-%d %H:%M:%S"


def ts(base: datetime, hours: float = 0.0, minutes: float = 0.0) -> str:
    return (base + timedelta(hours=hours, minutes=minutes)).strftime(FMT)


# (itemid, hours, VALUE, VALUENUM, ERROR) of chart rows of stay 1000.
STAY1_EVENTS: list[tuple[int, float, str, str, str]] = [
    (220045, 1.0, "80", "80", "0"),           # heart rate 80
    (220045, 48.0, "90", "90", "0"),          # exactly at the cut: kept
    (220045, 48.5, "95", "95", "0"),          # after the cut: absent
    (220045, -1.0, "70", "70", "0"),          # before INTIME: absent
    (220045, 2.0, "85", "85", "1"),           # ERROR=1 (MIMIC-III): counted, dropped
    (220045, 3.0, "400", "400", "0"),         # outside the valid range: counted, dropped
    (223761, 2.0, "98.6", "98.6", "0"),       # 98.6 F -> 37.0 C
    (223762, 2.5, "37.5", "37.5", "0"),       # Celsius kept
    (226512, 0.5, "80", "80", "0"),           # admission weight 80 kg (first weight)
    (226531, 4.0, "220", "220", "0"),         # 220 lb -> 99.79 kg
    (226730, 0.5, "170", "170", "0"),         # height 170 cm (first height)
    (226707, 4.0, "70", "70", "0"),           # 70 in -> 177.8 cm
    (223835, 5.0, "50", "50", "0"),           # FiO2 50 % -> 0.5
    (220739, 6.0, "4 Spontaneously", "", "0"),  # GCS eye 4 (CareVue style text)
    (220739, 7.0, "To Pain", "", "0"),          # GCS eye 2 (MetaVision style text)
    (223900, 6.0, "No Response-ETT", "", "0"),  # GCS verbal 1
    (223901, 6.0, "Obeys Commands", "", "0"),   # GCS motor 6
    (223901, 7.0, "Garbage", "", "0"),          # cannot convert: counted
    (223951, 6.0, "Abnormal >3 secs", "", "0"),  # cap refill 1
    (223951, 8.0, "Normal <3 secs", "", "0"),    # cap refill 0
    (999999, 6.0, "1", "1", "0"),              # unmapped itemid: ignored
]
# (itemid, hours, VALUE, VALUENUM, has HADM_ID) of lab rows of subject 1.
STAY1_LABS: list[tuple[int, float, str, str, bool]] = [
    (50971, 3.0, "4.1", "4.1", True),     # potassium 4.1
    (50983, 50.0, "140", "140", True),    # sodium after the cut: absent
    (50912, 5.0, "1.2", "1.2", False),    # creatinine without HADM_ID: kept (same subject, in window)
    (50813, 6.0, "ERROR", "", True),      # lactate text: cannot convert, counted
    (50931, 6.0, "150", "150", True),     # glucose (lab) 150
]
# (note id, category, hours or None, chartdate offset days or None, iserror): stay 1000.
STAY1_NOTES: list[tuple[int, str, float | None, int | None, str]] = [
    (1, "Nursing/other", 10.0, None, ""),      # kept, 10 h
    (2, "Radiology", 49.0, None, ""),          # after the cut: absent
    (3, "Discharge summary", None, 3, ""),     # discharge summary: absent, counted
    (4, "Nursing/other", 5.0, None, "1"),      # ISERROR=1: absent, counted
    (5, "ECG", None, 1, ""),                   # CHARTDATE day 1 -> end of day = 40 h: kept
    (6, "ECG", None, 2, ""),                   # CHARTDATE day 2 -> end of day = 64 h: absent
]
NOTE_TEXT = 'Pt stable, "no distress",\nplan: continue.'

# subject -> (stays of (stay_id, hadm_id, intime, hours, first unit, last unit), age at intime)
ADMIT = {1: T0, 2: datetime(2101, 2, 8, 0, 0), 3: datetime(2102, 5, 1, 0, 0),
         4: datetime(2103, 7, 1, 0, 0), 5: datetime(2104, 1, 1), 6: datetime(2104, 3, 1),
         7: datetime(2104, 5, 1), 8: datetime(2105, 1, 1)}
AGES = {1: 60, 2: 45, 3: 50, 4: 70, 5: 10, 6: 55, 7: 65, 8: 300}


def _scenario() -> tuple[list[dict], list[dict]]:
    """Admissions and ICU stays of the scenario as plain dicts (datetimes)."""
    adm, icu = [], []

    def add(subject, hadm, admit, disch, death=None, stays=(), ins="Medicare", eth="WHITE"):
        adm.append(dict(subject=subject, hadm=hadm, admit=admit, disch=disch, death=death,
                        flag=1 if death else 0, insurance=ins, ethnicity=eth))
        for stay_id, start_h, hours, u1, u2 in stays:
            icu.append(dict(subject=subject, hadm=hadm, stay=stay_id, intime=admit + timedelta(hours=start_h),
                            outtime=admit + timedelta(hours=start_h + hours), u1=u1, u2=u2))

    d1 = T0 + timedelta(hours=100)
    add(1, 100, T0 - timedelta(hours=0), d1, death=d1, stays=[(1000, 0, 72, "MICU", "MICU")])
    d2 = ADMIT[2] + timedelta(days=5, hours=12)
    add(2, 200, ADMIT[2], d2, stays=[(2000, 0, 60, "CCU", "CCU")], ins="Private", eth="BLACK")
    r2 = d2 + timedelta(days=30)
    add(2, 201, r2, r2 + timedelta(days=3), stays=[(2001, 1, 47.9, "CCU", "CCU")])
    d3 = ADMIT[3] + timedelta(days=5)
    add(3, 300, ADMIT[3], d3, stays=[(3000, 0, 60, "SICU", "SICU")])
    add(3, 301, d3 + timedelta(days=30, minutes=1), d3 + timedelta(days=33))
    d4 = ADMIT[4] + timedelta(days=4, hours=10)
    add(4, 400, ADMIT[4], d4, stays=[(4000, 0, 60, "MICU", "MICU")])
    add(5, 500, ADMIT[5], ADMIT[5] + timedelta(days=4), stays=[(5000, 0, 60, "PICU", "PICU")])
    add(6, 600, ADMIT[6], ADMIT[6] + timedelta(days=4), stays=[(6000, 0, 60, "MICU", "SICU")])
    add(7, 700, ADMIT[7], ADMIT[7] + timedelta(days=9),
        stays=[(7000, 0, 60, "MICU", "MICU"), (7001, 100, 60, "MICU", "MICU")])
    add(8, 800, ADMIT[8], ADMIT[8] + timedelta(days=4), stays=[(8000, 0, 60, "MICU", "MICU")])
    return adm, icu


def death_of(subject: int) -> datetime | None:
    """Date of death (midnight, as MIMIC stores DOD) of the scenario's subjects."""
    if subject == 1:
        return datetime(2101, 1, 5)
    if subject == 4:
        d4 = ADMIT[4] + timedelta(days=4, hours=10)
        return datetime(d4.year, d4.month, d4.day) + timedelta(days=29)
    return None


def _dictionary(source: str) -> tuple[list[tuple[int, str, str]], list[tuple[int, str, str]]]:
    """(itemid, label, dbsource) of the mapped chart and lab items, for D_ITEMS/D_LABITEMS."""
    with resource_path(f"{source}_itemids.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    pick = [(int(r["itemid"]), r["label"], r["dbsource"]) for r in rows]
    chart = [p for p, r in zip(pick, rows) if r["table"] == "chartevents"]
    lab = [p for p, r in zip(pick, rows) if r["table"] == "labevents"]
    return chart, lab


def _write(path: Path, header: list[str], rows: list[list], gz: bool) -> Path:
    path = path.with_name(path.name + (".csv.gz" if gz else ".csv"))
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return path


def _fmt(value: datetime | None) -> str | None:
    return None if value is None else value.strftime(FMT)


def write_mimic3(root: Path, *, gz: bool = False) -> Path:
    """Write the scenario as a MIMIC-III v1.4 folder (upper-case names and columns)."""
    adm, icu = _scenario()
    root.mkdir(parents=True, exist_ok=True)
    intime = {s["subject"]: s["intime"] for s in icu}
    pats = []
    for subj, age in AGES.items():
        dob = intime[subj].replace(year=intime[subj].year - age, hour=0)
        pats.append([subj, subj, "F" if subj % 2 else "M", _fmt(dob), _fmt(death_of(subj)), None, None,
                     1 if death_of(subj) else 0])
    _write(root / "PATIENTS", ["ROW_ID", "SUBJECT_ID", "GENDER", "DOB", "DOD", "DOD_HOSP", "DOD_SSN",
                               "EXPIRE_FLAG"], pats, gz)
    _write(root / "ADMISSIONS", [
        "ROW_ID", "SUBJECT_ID", "HADM_ID", "ADMITTIME", "DISCHTIME", "DEATHTIME", "ADMISSION_TYPE",
        "ADMISSION_LOCATION", "DISCHARGE_LOCATION", "INSURANCE", "LANGUAGE", "RELIGION",
        "MARITAL_STATUS", "ETHNICITY", "EDREGTIME", "EDOUTTIME", "DIAGNOSIS", "HOSPITAL_EXPIRE_FLAG",
        "HAS_CHARTEVENTS_DATA"],
        [[i, a["subject"], a["hadm"], _fmt(a["admit"]), _fmt(a["disch"]), _fmt(a["death"]), "EMERGENCY",
          "EMERGENCY ROOM ADMIT", "HOME", a["insurance"], "ENGL", None, "MARRIED", a["ethnicity"], None,
          None, "SEPSIS", a["flag"], 1] for i, a in enumerate(adm)], gz)
    _write(root / "ICUSTAYS", [
        "ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "DBSOURCE", "FIRST_CAREUNIT", "LAST_CAREUNIT",
        "FIRST_WARDID", "LAST_WARDID", "INTIME", "OUTTIME", "LOS"],
        [[i, s["subject"], s["hadm"], s["stay"], "metavision", s["u1"], s["u2"], 12, 12,
          _fmt(s["intime"]), _fmt(s["outtime"]), round((s["outtime"] - s["intime"]).total_seconds() / 86400, 4)]
         for i, s in enumerate(icu)], gz)
    chart = [[i, 1, 100, 1000, item, ts(T0, h), ts(T0, h + 0.1), 17, v, vn, "", "0", err, None, None]
             for i, (item, h, v, vn, err) in enumerate(STAY1_EVENTS)]
    # One heart-rate row in the window of every other stay, so each has an event.
    for s in icu:
        if s["stay"] != 1000:
            chart.append([len(chart), s["subject"], s["hadm"], s["stay"], 211, ts(s["intime"], 1), None,
                          None, "77", "77", "bpm", None, None, None, None])
    _write(root / "CHARTEVENTS", ["ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "ITEMID", "CHARTTIME",
                                  "STORETIME", "CGID", "VALUE", "VALUENUM", "VALUEUOM", "WARNING", "ERROR",
                                  "RESULTSTATUS", "STOPPED"], chart, gz)
    labs = [[i, 1, 100 if has else None, item, ts(T0, h), v, vn, "", None]
            for i, (item, h, v, vn, has) in enumerate(STAY1_LABS)]
    _write(root / "LABEVENTS", ["ROW_ID", "SUBJECT_ID", "HADM_ID", "ITEMID", "CHARTTIME", "VALUE",
                                "VALUENUM", "VALUEUOM", "FLAG"], labs, gz)
    notes = []
    for nid, cat, h, day, err in STAY1_NOTES:
        date = (T0 + timedelta(days=day)).strftime("%Y-%m-%d") if day is not None else T0.strftime("%Y-%m-%d")
        notes.append([nid, 1, 100, date, ts(T0, h) if h is not None else None, None, cat, "note", None, err,
                      NOTE_TEXT])
    _write(root / "NOTEEVENTS", ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME",
                                 "CATEGORY", "DESCRIPTION", "CGID", "ISERROR", "TEXT"], notes, gz)
    chart_items, lab_items = _dictionary("mimic3")
    _write(root / "D_ITEMS", ["ROW_ID", "ITEMID", "LABEL", "ABBREVIATION", "DBSOURCE", "LINKSTO", "CATEGORY",
                              "UNITNAME", "PARAM_TYPE", "CONCEPTID"],
           [[i, item, label, None, src, "chartevents", None, None, None, None]
            for i, (item, label, src) in enumerate(chart_items)], gz)
    _write(root / "D_LABITEMS", ["ROW_ID", "ITEMID", "LABEL", "FLUID", "CATEGORY", "LOINC_CODE"],
           [[i, item, label, "Blood", None, None] for i, (item, label, _) in enumerate(lab_items)], gz)
    return root


def write_mimic4(root: Path, *, gz: bool = True) -> Path:
    """Write the scenario as a MIMIC-IV folder (hosp/, icu/, note/; lower-case names)."""
    adm, icu = _scenario()
    intime = {s["subject"]: s["intime"] for s in icu}
    pats = [[subj, "F" if subj % 2 else "M", min(age, 91), intime[subj].year - 1, "2017 - 2019",
             death_of(subj).strftime("%Y-%m-%d") if death_of(subj) else None]
            for subj, age in AGES.items()]
    hosp, icud, note = root / "hosp", root / "icu", root / "note"
    _write(hosp / "patients", ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
           pats, gz)
    _write(hosp / "admissions", [
        "subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type", "admit_provider_id",
        "admission_location", "discharge_location", "insurance", "language", "marital_status", "race",
        "edregtime", "edouttime", "hospital_expire_flag"],
        [[a["subject"], a["hadm"], _fmt(a["admit"]), _fmt(a["disch"]), _fmt(a["death"]), "EW EMER.", "P1",
          "EMERGENCY ROOM", "HOME", a["insurance"], "ENGLISH", "MARRIED", a["ethnicity"], None, None, a["flag"]]
         for a in adm], gz)
    _write(icud / "icustays", ["subject_id", "hadm_id", "stay_id", "first_careunit", "last_careunit", "intime",
                               "outtime", "los"],
           [[s["subject"], s["hadm"], s["stay"], s["u1"], s["u2"], _fmt(s["intime"]), _fmt(s["outtime"]),
             round((s["outtime"] - s["intime"]).total_seconds() / 86400, 4)] for s in icu], gz)
    chart = [[1, 100, 1000, 17, ts(T0, h), ts(T0, h + 0.1), item, v, vn, "", "0"]
             for item, h, v, vn, err in STAY1_EVENTS if err != "1"]
    for s in icu:
        if s["stay"] != 1000:
            chart.append([s["subject"], s["hadm"], s["stay"], None, ts(s["intime"], 1), None, 220045, "77", "77",
                          "bpm", 0])
    _write(icud / "chartevents", ["subject_id", "hadm_id", "stay_id", "caregiver_id", "charttime", "storetime",
                                  "itemid", "value", "valuenum", "valueuom", "warning"], chart, gz)
    labs = [[i, 1, 100 if has else None, 9, item, None, ts(T0, h), None, v, vn, "", None, None, None, "ROUTINE",
             None] for i, (item, h, v, vn, has) in enumerate(STAY1_LABS)]
    _write(hosp / "labevents", [
        "labevent_id", "subject_id", "hadm_id", "specimen_id", "itemid", "order_provider_id", "charttime",
        "storetime", "value", "valuenum", "valueuom", "ref_range_lower", "ref_range_upper", "flag", "priority",
        "comments"], labs, gz)
    _write(icud / "d_items", ["itemid", "label", "abbreviation", "linksto", "category", "unitname", "param_type",
                              "lownormalvalue", "highnormalvalue"],
           [[220045, "Heart Rate", "HR", "chartevents", "Routine Vital Signs", "bpm", "Numeric", None, None]], gz)
    _write(hosp / "d_labitems", ["itemid", "label", "fluid", "category"],
           [[50971, "Potassium", "Blood", "Chemistry"]], gz)
    cols = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
    _write(note / "radiology", cols, [
        ["1-RR-1", 1, 100, "RR", 1, ts(T0, 10), ts(T0, 11), NOTE_TEXT],   # kept, 10 h
        ["1-RR-2", 1, 100, "RR", 2, ts(T0, 49), ts(T0, 50), NOTE_TEXT],   # after the cut
        ["1-RR-3", 1, 999, "RR", 3, ts(T0, 5), ts(T0, 6), NOTE_TEXT],     # another admission
    ], gz)
    _write(note / "discharge", cols, [["1-DS-1", 1, 100, "DS", 1, _fmt(adm[0]["disch"]), None, NOTE_TEXT]], gz)
    return root


def drop_column(path: Path, column: str) -> None:
    """Rewrite a fixture table without ``column`` (for missing-column tests)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        rows = list(csv.reader(fh))
    idx = rows[0].index(column)
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        csv.writer(fh).writerows([r[:idx] + r[idx + 1:] for r in rows])
