"""The synthetic hospital: MIMIC-III format, planted truth, latent risk, determinism, round trip."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realm.data.synth import MIMIC3_TABLES, TRUTH_FILES, write_synthetic_hospital
from realm.data.synth_readme import _auroc
from realm.data.synth_tables import COLUMNS
from realm.data.synth_vocab import load_synth_vocab
from realm.errors import ConfigError


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_hospital(tmp_path_factory.mktemp("synth") / "db", n_stays=1000, seed=7)


def _read(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / f"{name}.csv", keep_default_na=False, na_values=[""])


def _stays(root: Path) -> pd.DataFrame:
    icu = _read(root, "ICUSTAYS").merge(_read(root, "ADMISSIONS"), on=["SUBJECT_ID", "HADM_ID"])
    icu = icu.merge(_read(root, "TRUE_RISK")[["ICUSTAY_ID", "RISK_MORTALITY", "RISK_READMISSION", "SPLIT"]],
                    on="ICUSTAY_ID")
    icu["hours"] = (pd.to_datetime(icu["OUTTIME"]) - pd.to_datetime(icu["INTIME"])).dt.total_seconds() / 3600
    return icu


def test_every_table_has_the_exact_mimic3_columns(hospital: Path) -> None:
    for name in MIMIC3_TABLES + ("TRUE_RISK", "NOTE_MENTIONS", "STAY_CONDITIONS"):
        header = (hospital / f"{name}.csv").open().readline().strip()
        assert header.replace('"', "").split(",") == list(COLUMNS[name]), name
    for name in TRUTH_FILES:
        assert (hospital / name).is_file()
    assert "logit P(in-hospital death)" in (hospital / "SYNTH_README.md").read_text()


def test_rates_and_stay_lengths_are_plausible(hospital: Path) -> None:
    stays = _stays(hospital)
    assert len(stays) == 1000 and stays["ICUSTAY_ID"].is_unique
    assert stays.groupby("SUBJECT_ID").size().max() >= 2  # some subjects come back
    assert 1.0 <= stays["LOS"].min() and stays["LOS"].max() <= 10.0
    short = (stays["hours"] < 48).mean()
    assert 0.05 < short < 0.3
    long = stays[stays["hours"] >= 48]
    assert 0.08 < long["HOSPITAL_EXPIRE_FLAG"].mean() < 0.17
    patients = _read(hospital, "PATIENTS")
    assert 0.5 < (patients["GENDER"] == "M").mean() < 0.62
    assert set(stays["SPLIT"]) == {"train", "val", "test"}
    assert (stays.groupby("SUBJECT_ID")["SPLIT"].nunique() == 1).all()


def test_time_series_are_dense_realistic_and_partly_missing(hospital: Path) -> None:
    chart = _read(hospital, "CHARTEVENTS")
    assert 0 < chart["ERROR"].sum() < 0.01 * len(chart)  # a few charting errors for readers to drop
    chart = chart[chart["ERROR"] == 0]
    hr = chart[chart["ITEMID"] == 220045]
    per_stay = hr.groupby("ICUSTAY_ID").size()
    stays = _stays(hospital).set_index("ICUSTAY_ID")
    hourly = per_stay / stays.loc[per_stay.index, "hours"]
    assert 0.8 < hourly.median() < 1.1
    assert 40 < hr["VALUENUM"].quantile(0.01) and hr["VALUENUM"].quantile(0.99) < 160
    assert {"Spontaneously", "To Speech"} <= set(chart.loc[chart["ITEMID"] == 220739, "VALUE"])
    assert set(chart.loc[chart["ITEMID"] == 223951, "VALUE"]) == {"Normal <3 secs", "Abnormal >3 secs"}
    assert chart.loc[chart["ITEMID"] == 223761, "VALUENUM"].between(93, 106).all()  # degrees F
    art = chart.loc[chart["ITEMID"] == 220050, "ICUSTAY_ID"].nunique()
    assert 0.3 < art / len(stays) < 0.6  # not every patient has an arterial line
    labs = _read(hospital, "LABEVENTS")
    lactate_stays = labs.loc[labs["ITEMID"] == 50813, "HADM_ID"].nunique()
    assert lactate_stays < 0.8 * len(stays)


def test_planted_mentions_index_their_notes_exactly(hospital: Path) -> None:
    notes = _read(hospital, "NOTEEVENTS").set_index("ROW_ID")["TEXT"]
    mentions = _read(hospital, "NOTE_MENTIONS")
    assert len(mentions) > 10 * len(notes.index.unique()) // 10
    for row in mentions.itertuples():
        assert notes[row.NOTE_ROW_ID][row.START:row.END] == row.TEXT
    assert set(mentions["ASSERTION"]) == {"present", "negated", "historical", "family", "hypothetical"}
    assert set(mentions["CONCEPT_TYPE"]) == {"disease", "phenotype", "drug"}
    diseases = mentions.loc[mentions["CONCEPT_TYPE"] == "disease", "CONCEPT_ID"]
    assert diseases.str.fullmatch(r"ICD10CM:[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?").all()


def test_held_out_codes_never_reach_train_or_val_notes(hospital: Path) -> None:
    vocab = load_synth_vocab()
    notes = _read(hospital, "NOTEEVENTS")[["ROW_ID", "SUBJECT_ID"]]
    split = _read(hospital, "TRUE_RISK").drop_duplicates("SUBJECT_ID").set_index("SUBJECT_ID")["SPLIT"]
    mentions = _read(hospital, "NOTE_MENTIONS").merge(notes, left_on="NOTE_ROW_ID", right_on="ROW_ID")
    mentions["SPLIT"] = mentions["SUBJECT_ID"].map(split)
    test_only = {c.id for c in vocab.codes.values() if c.role == "test"}
    train_only = {c.id for c in vocab.codes.values() if c.role == "train"}
    seen_train = set(mentions.loc[mentions["SPLIT"] != "test", "CONCEPT_ID"])
    seen_test = set(mentions.loc[mentions["SPLIT"] == "test", "CONCEPT_ID"])
    assert not seen_train & test_only
    assert not seen_test & train_only
    held = [c for c in vocab.categories.values() if c.held_out]
    assert len(held) >= 5
    # The partition is exercised: test notes do use unseen members of held-out categories.
    assert len({vocab.codes[c].category for c in seen_test & test_only}) >= 5


def test_true_risk_predicts_outcomes(hospital: Path) -> None:
    stays = _stays(hospital)
    long = stays[stays["hours"] >= 48]
    died = long["HOSPITAL_EXPIRE_FLAG"].to_numpy()
    assert _auroc(long["RISK_MORTALITY"].to_numpy(), died) > 0.75
    assert abs(died.mean() - long["RISK_MORTALITY"].mean()) < 0.03
    # Active conditions are exactly the stays' note part: their weights must matter.
    conditions = _read(hospital, "STAY_CONDITIONS")
    active = conditions[conditions["ACTIVE"] == 1].groupby("ICUSTAY_ID").size()
    assert active.mean() > 2


def test_notes_inside_the_window_never_state_the_outcome(hospital: Path) -> None:
    notes = _read(hospital, "NOTEEVENTS").merge(_stays(hospital)[["HADM_ID", "INTIME"]], on="HADM_ID")
    inside = pd.to_datetime(notes["CHARTTIME"]) <= pd.to_datetime(notes["INTIME"]) + pd.Timedelta(hours=48)
    pattern = re.compile(r"expired|died|death|comfort measures|deceased", re.IGNORECASE)
    assert not notes.loc[inside, "TEXT"].str.contains(pattern).any()
    assert notes["CATEGORY"].eq("Discharge summary").sum() == notes["HADM_ID"].nunique()


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    def digest(root: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}

    a = digest(write_synthetic_hospital(tmp_path / "a", n_stays=60, seed=3))
    b = digest(write_synthetic_hospital(tmp_path / "b", n_stays=60, seed=3))
    c = digest(write_synthetic_hospital(tmp_path / "c", n_stays=60, seed=4))
    assert a == b
    assert a["CHARTEVENTS.csv"] != c["CHARTEVENTS.csv"]


def test_bad_arguments_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        write_synthetic_hospital(tmp_path / "x", n_stays=0)
    with pytest.raises(ConfigError):
        write_synthetic_hospital(tmp_path / "x", n_stays=5, seed=-1)


def test_round_trip_through_the_mimic3_reader(hospital: Path) -> None:
    from realm.data.readers.mimic import read_mimic
    from realm.data.readers.mimic_layout import load_layout

    layout = load_layout("mimic3")
    cohort = read_mimic(hospital, layout, progress=False)
    risk = _read(hospital, "TRUE_RISK").rename(columns={"ICUSTAY_ID": "stay_id"})
    assert len(cohort.stays) == len(risk)  # every synthetic stay passes the cohort rules
    assert not cohort.notes["category"].str.lower().eq("discharge summary").any()
    assert (cohort.notes["hours"] <= 48).all() and (cohort.events["hours"] <= 48).all()
    variables = set(cohort.events["variable"])
    assert {"heart_rate", "sbp", "ni_map", "temperature", "gcs_eye", "cap_refill", "lactate", "fio2"} <= variables
    temp = cohort.events.loc[cohort.events["variable"] == "temperature", "value"]
    assert temp.between(34, 41).all()  # degrees F were converted
    labels = cohort.labels.merge(risk, on="stay_id")
    for task, col, floor in (("mortality", "RISK_MORTALITY", 0.75), ("readmission_30d", "RISK_READMISSION", 0.58)):
        defined = labels[labels[task].notna()]
        y = defined[task].astype(int).to_numpy()
        assert abs(y.mean() - defined[col].mean()) < 0.035, task
        assert _auroc(defined[col].to_numpy(), y) > floor, task
    readm = labels["readmission_30d"].dropna().astype(int).mean()
    assert 0.08 < readm < 0.22
    assert np.isclose(cohort.stays["age"].max(), layout.age_over_89) or cohort.stays["age"].max() <= 89
