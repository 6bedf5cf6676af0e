"""The synthetic hospital's MIMIC-III v1.4 tables, their CSV files and ``SYNTH_README.md``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from realm.cache import atomic_path
from realm.data.synth_cohort import SynthPopulation, load_model_params
from realm.data.synth_notes import NoteSet
from realm.data.synth_readme import render_readme
from realm.data.synth_series import as_text, item_dictionaries, load_physiology
from realm.data.synth_vocab import SynthVocab

__all__ = ["COLUMNS", "build_tables", "write_csv", "write_readme"]

#: Exact MIMIC-III v1.4 column order of each table written, and of the ground-truth files.
COLUMNS: dict[str, tuple[str, ...]] = {
    "PATIENTS": ("ROW_ID", "SUBJECT_ID", "GENDER", "DOB", "DOD", "DOD_HOSP", "DOD_SSN", "EXPIRE_FLAG"),
    "ADMISSIONS": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "ADMITTIME", "DISCHTIME", "DEATHTIME",
                   "ADMISSION_TYPE", "ADMISSION_LOCATION", "DISCHARGE_LOCATION", "INSURANCE",
                   "LANGUAGE", "RELIGION", "MARITAL_STATUS", "ETHNICITY", "EDREGTIME", "EDOUTTIME",
                   "DIAGNOSIS", "HOSPITAL_EXPIRE_FLAG", "HAS_CHARTEVENTS_DATA"),
    "ICUSTAYS": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "DBSOURCE", "FIRST_CAREUNIT",
                 "LAST_CAREUNIT", "FIRST_WARDID", "LAST_WARDID", "INTIME", "OUTTIME", "LOS"),
    "CHARTEVENTS": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "ITEMID", "CHARTTIME", "STORETIME",
                    "CGID", "VALUE", "VALUENUM", "VALUEUOM", "WARNING", "ERROR", "RESULTSTATUS", "STOPPED"),
    "LABEVENTS": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "ITEMID", "CHARTTIME", "VALUE", "VALUENUM",
                  "VALUEUOM", "FLAG"),
    "NOTEEVENTS": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME", "CATEGORY",
                   "DESCRIPTION", "CGID", "ISERROR", "TEXT"),
    "D_ITEMS": ("ROW_ID", "ITEMID", "LABEL", "ABBREVIATION", "DBSOURCE", "LINKSTO", "CATEGORY",
                "UNITNAME", "PARAM_TYPE", "CONCEPTID"),
    "D_LABITEMS": ("ROW_ID", "ITEMID", "LABEL", "FLUID", "CATEGORY", "LOINC_CODE"),
    "DIAGNOSES_ICD": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"),
    "PRESCRIPTIONS": ("ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "STARTDATE", "ENDDATE", "DRUG_TYPE",
                      "DRUG", "DRUG_NAME_POE", "DRUG_NAME_GENERIC", "FORMULARY_DRUG_CD", "GSN", "NDC",
                      "PROD_STRENGTH", "DOSE_VAL_RX", "DOSE_UNIT_RX", "FORM_VAL_DISP", "FORM_UNIT_DISP",
                      "ROUTE"),
    "TRUE_RISK": ("ICUSTAY_ID", "HADM_ID", "SUBJECT_ID", "RISK_MORTALITY", "RISK_READMISSION", "SPLIT"),
    "NOTE_MENTIONS": ("NOTE_ROW_ID", "START", "END", "TEXT", "CONCEPT_ID", "CONCEPT_TYPE", "ASSERTION"),
    "STAY_CONDITIONS": ("ICUSTAY_ID", "CONCEPT_ID", "CATEGORY_ID", "ACTIVE"),
}

# Administrative values with MIMIC-III's spelling; they carry no risk in the latent model.
_ETHNICITY = (("WHITE", 0.70), ("BLACK/AFRICAN AMERICAN", 0.09), ("HISPANIC OR LATINO", 0.04),
              ("ASIAN", 0.03), ("UNKNOWN/NOT SPECIFIED", 0.14))
_MARITAL = (("MARRIED", 0.47), ("SINGLE", 0.27), ("WIDOWED", 0.14), ("DIVORCED", 0.07), (None, 0.05))
_RELIGION = (("CATHOLIC", 0.35), ("NOT SPECIFIED", 0.25), ("PROTESTANT QUAKER", 0.15), ("JEWISH", 0.08),
             ("UNOBTAINABLE", 0.17))
_LANGUAGE = (("ENGL", 0.88), ("SPAN", 0.05), ("RUSS", 0.03), ("PTUN", 0.04))
_ALIVE_DEST = (("HOME", 0.35), ("HOME HEALTH CARE", 0.27), ("SNF", 0.22), ("REHAB/DISTINCT PART HOSP", 0.16))
_WARDS = {"MICU": 50, "SICU": 33, "CCU": 7, "CSRU": 14, "TSICU": 14}


def _draw(rng: np.random.Generator, table: tuple, n: int) -> np.ndarray:
    values = np.array([v for v, _ in table], dtype=object)
    p = np.array([w for _, w in table], dtype=float)
    return values[rng.choice(len(values), size=n, p=p / p.sum())]


def _ts(values: object) -> pd.Series:
    """Timestamps at second resolution (NaT for missing), written as 'YYYY-MM-DD HH:MM:SS'."""
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[s]")
    return pd.Series(pd.to_datetime(pd.Series(values, dtype=object)), dtype="datetime64[s]")


def _numbered(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    if "ROW_ID" in COLUMNS[name]:
        frame["ROW_ID"] = np.arange(1, len(frame) + 1)
    for col in COLUMNS[name]:
        if col not in frame.columns:
            frame[col] = None
    return frame[list(COLUMNS[name])]


def _patients(pop: SynthPopulation) -> pd.DataFrame:
    subj = pop.subjects.sort_values("subject_id")
    dod = _ts(subj["dod"].tolist())
    hosp = subj["dod_hosp"].to_numpy(dtype=bool)
    return _numbered(pd.DataFrame({
        "SUBJECT_ID": subj["subject_id"].to_numpy(), "GENDER": np.where(subj["male"], "M", "F"),
        "DOB": _ts(subj["dob"].tolist()), "DOD": dod, "DOD_HOSP": dod.where(hosp),
        "DOD_SSN": dod.where(~hosp | (np.arange(len(subj)) % 3 == 0)),
        "EXPIRE_FLAG": dod.notna().astype(int).to_numpy(),
    }), "PATIENTS")


def _admissions(pop: SynthPopulation, vocab: SynthVocab, rng: np.random.Generator) -> pd.DataFrame:
    s, w = pop.stays, pop.wards
    n = len(s)
    first_cat = pop.conditions.drop_duplicates("icustay_id").set_index("icustay_id")["category_id"]
    diagnosis = [vocab.categories[first_cat[i]].name.upper() if i in first_cat.index else "SHORTNESS OF BREATH"
                 for i in s["icustay_id"]]
    admit = _ts(s["admittime"].tolist())
    emergency = s["emergency"].to_numpy(dtype=bool)
    kind = np.where(emergency, "EMERGENCY", np.where(rng.random(n) < 0.6, "ELECTIVE", "URGENT"))
    icu = pd.DataFrame({
        "SUBJECT_ID": s["subject_id"].to_numpy(), "HADM_ID": s["hadm_id"].to_numpy(), "ADMITTIME": admit,
        "DISCHTIME": _ts(s["dischtime"].tolist()), "DEATHTIME": _ts(s["deathtime"].tolist()),
        "ADMISSION_TYPE": kind,
        "ADMISSION_LOCATION": np.where(emergency, "EMERGENCY ROOM ADMIT", "PHYS REFERRAL/NORMAL DELI"),
        "DISCHARGE_LOCATION": np.where(s["died"], "DEAD/EXPIRED", _draw(rng, _ALIVE_DEST, n)),
        "INSURANCE": np.where(s["age"].to_numpy() >= 65, "Medicare",
                              _draw(rng, (("Private", 0.6), ("Medicaid", 0.3), ("Self Pay", 0.1)), n)),
        "EDREGTIME": _ts(admit - pd.to_timedelta(rng.integers(120, 480, n), unit="min")).where(emergency),
        "EDOUTTIME": _ts(admit + pd.to_timedelta(rng.integers(0, 60, n), unit="min")).where(emergency),
        "DIAGNOSIS": diagnosis, "HOSPITAL_EXPIRE_FLAG": s["died"].astype(int).to_numpy(),
        "HAS_CHARTEVENTS_DATA": 1,
    })
    ward = pd.DataFrame({
        "SUBJECT_ID": w["subject_id"].to_numpy(), "HADM_ID": w["hadm_id"].to_numpy(),
        "ADMITTIME": _ts(w["admittime"].tolist()), "DISCHTIME": _ts(w["dischtime"].tolist()),
        "DEATHTIME": _ts([None] * len(w)), "ADMISSION_TYPE": "EMERGENCY",
        "ADMISSION_LOCATION": "EMERGENCY ROOM ADMIT", "DISCHARGE_LOCATION": _draw(rng, _ALIVE_DEST, len(w)),
        "INSURANCE": "Medicare", "DIAGNOSIS": "SHORTNESS OF BREATH", "HOSPITAL_EXPIRE_FLAG": 0,
        "HAS_CHARTEVENTS_DATA": 0,
    })
    both = pd.concat([icu, ward], ignore_index=True)
    # Demographics belong to the subject, not the admission.
    subjects = np.sort(both["SUBJECT_ID"].unique())
    k = len(subjects)
    per = {col: dict(zip(subjects, _draw(rng, table, k))) for col, table in
           (("ETHNICITY", _ETHNICITY), ("MARITAL_STATUS", _MARITAL), ("RELIGION", _RELIGION),
            ("LANGUAGE", _LANGUAGE))}
    for col, mapping in per.items():
        both[col] = both["SUBJECT_ID"].map(mapping)
    return _numbered(both.sort_values(["SUBJECT_ID", "ADMITTIME"], kind="stable"), "ADMISSIONS")


def _icustays(s: pd.DataFrame) -> pd.DataFrame:
    intime, outtime = _ts(s["intime"].tolist()), _ts(s["outtime"].tolist())
    ward = s["careunit"].map(_WARDS).to_numpy()
    return _numbered(pd.DataFrame({
        "SUBJECT_ID": s["subject_id"].to_numpy(), "HADM_ID": s["hadm_id"].to_numpy(),
        "ICUSTAY_ID": s["icustay_id"].to_numpy(), "DBSOURCE": "metavision",
        "FIRST_CAREUNIT": s["careunit"].to_numpy(), "LAST_CAREUNIT": s["careunit"].to_numpy(),
        "FIRST_WARDID": ward, "LAST_WARDID": ward, "INTIME": intime, "OUTTIME": outtime,
        "LOS": ((outtime - intime).dt.total_seconds() / 86400).round(4),
    }).sort_values("ICUSTAY_ID"), "ICUSTAYS")


def _event_times(s: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    intime = _ts(s["intime"].tolist()).to_numpy()[frame["stay"].to_numpy()]
    minutes = np.round(frame["hours"].to_numpy() * 60).astype("int64")
    return pd.Series(intime + minutes * np.timedelta64(60, "s"), dtype="datetime64[s]")


def _chartevents(s: pd.DataFrame, chart: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    idx = chart["stay"].to_numpy()
    when = _event_times(s, chart)
    n = len(chart)
    out = pd.DataFrame({
        "SUBJECT_ID": s["subject_id"].to_numpy()[idx], "HADM_ID": s["hadm_id"].to_numpy()[idx],
        "ICUSTAY_ID": s["icustay_id"].to_numpy()[idx], "ITEMID": chart["ITEMID"].to_numpy(),
        "CHARTTIME": when, "STORETIME": _ts(when + pd.to_timedelta(rng.integers(1, 30, n), unit="min")),
        "CGID": rng.integers(14000, 21000, n), "VALUE": chart["VALUE"].to_numpy(),
        "VALUENUM": chart["VALUENUM"].to_numpy(), "VALUEUOM": chart["VALUEUOM"].replace("", None).to_numpy(),
        "WARNING": 0, "ERROR": 0,
    })
    # A few charting errors, flagged as MetaVision does: the readers must drop them.
    phys = load_physiology()
    numeric = ~out["ITEMID"].isin(phys.loc[phys["kind"].isin(["gcs", "flag"]), "itemid"]).to_numpy()
    bad = (rng.random(n) < 0.0005) & numeric
    out.loc[bad, "ERROR"] = 1
    out.loc[bad, "VALUENUM"] = out.loc[bad, "VALUENUM"] * 10
    out.loc[bad, "VALUE"] = as_text(out.loc[bad, "VALUENUM"].to_numpy())
    out = out.sort_values(["ICUSTAY_ID", "CHARTTIME", "ITEMID"], kind="stable")
    return _numbered(out, "CHARTEVENTS")


def _labevents(s: pd.DataFrame, lab: pd.DataFrame) -> pd.DataFrame:
    idx = lab["stay"].to_numpy()
    phys = load_physiology().set_index("itemid")
    items = lab["ITEMID"].to_numpy()
    low = phys["normal_low"].reindex(items).astype(float).to_numpy()
    high = phys["normal_high"].reindex(items).astype(float).to_numpy()
    num = lab["VALUENUM"].to_numpy()
    out = pd.DataFrame({
        "SUBJECT_ID": s["subject_id"].to_numpy()[idx], "HADM_ID": s["hadm_id"].to_numpy()[idx],
        "ITEMID": items, "CHARTTIME": _event_times(s, lab), "VALUE": lab["VALUE"].to_numpy(),
        "VALUENUM": num, "VALUEUOM": lab["VALUEUOM"].to_numpy(),
        "FLAG": np.where((num < low) | (num > high), "abnormal", None),
    })
    return _numbered(out.sort_values(["SUBJECT_ID", "CHARTTIME", "ITEMID"], kind="stable"), "LABEVENTS")


def build_tables(pop: SynthPopulation, chart: pd.DataFrame, lab: pd.DataFrame, notes: NoteSet,
                 vocab: SynthVocab, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Every CSV table, keyed by file stem, columns in MIMIC-III v1.4 order."""
    s = pop.stays
    d_items, d_lab = item_dictionaries()
    diag = pop.conditions.merge(s[["icustay_id", "subject_id", "hadm_id"]], on="icustay_id")
    diag = pd.DataFrame({"SUBJECT_ID": diag["subject_id"], "HADM_ID": diag["hadm_id"],
                         "ICD9_CODE": [vocab.categories[c].icd9 for c in diag["category_id"]]})
    diag = diag.sort_values(["SUBJECT_ID", "HADM_ID"], kind="stable")
    diag["SEQ_NUM"] = diag.groupby("HADM_ID").cumcount() + 1
    risk = pd.DataFrame({
        "ICUSTAY_ID": s["icustay_id"], "HADM_ID": s["hadm_id"], "SUBJECT_ID": s["subject_id"],
        "RISK_MORTALITY": s["risk_mortality"].round(6), "RISK_READMISSION": s["risk_readmission"].round(6),
        "SPLIT": s["split"],
    }).sort_values("ICUSTAY_ID")
    return {
        "PATIENTS": _patients(pop), "ADMISSIONS": _admissions(pop, vocab, rng), "ICUSTAYS": _icustays(s),
        "CHARTEVENTS": _chartevents(s, chart, rng), "LABEVENTS": _labevents(s, lab),
        "NOTEEVENTS": notes.notes[list(COLUMNS["NOTEEVENTS"])], "D_ITEMS": _numbered(d_items, "D_ITEMS"),
        "D_LABITEMS": _numbered(d_lab, "D_LABITEMS"), "DIAGNOSES_ICD": _numbered(diag, "DIAGNOSES_ICD"),
        "PRESCRIPTIONS": _numbered(notes.prescriptions, "PRESCRIPTIONS"),
        "TRUE_RISK": risk[list(COLUMNS["TRUE_RISK"])].reset_index(drop=True),
        "NOTE_MENTIONS": notes.mentions[list(COLUMNS["NOTE_MENTIONS"])],
        "STAY_CONDITIONS": notes.stay_conditions[list(COLUMNS["STAY_CONDITIONS"])],
    }


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as a comma-separated file with a header (atomically, deterministically)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(include_header=True))
        tmp.chmod(0o644)  # a database to share, not a private temp file


def write_readme(path: Path, pop: SynthPopulation, *, n_stays: int, seed: int) -> None:
    """Document the latent model with the parameters and rates of this very database."""
    with atomic_path(path) as tmp:
        tmp.write_text(render_readme(pop, load_model_params(), n_stays=n_stays, seed=seed))
        tmp.chmod(0o644)
