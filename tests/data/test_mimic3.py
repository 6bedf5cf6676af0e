"""The MIMIC reader with the MIMIC-III layout on a tiny v1.4-format database with hand-known answers."""

from __future__ import annotations

import csv
import gzip
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mimic_fixtures import NOTE_TEXT, drop_column, write_mimic3

from realm.data.readers.mimic import read_mimic
from realm.data.readers.mimic_layout import load_layout
from realm.data.readers.mimic_values import convert_values, parse_category
from realm.errors import ConfigError, DataError


@pytest.fixture(scope="module", params=["csv", "csv.gz"])
def cohort(request, tmp_path_factory):
    root = write_mimic3(tmp_path_factory.mktemp("m3") / "mimic3", gz=request.param == "csv.gz")
    return read_mimic(root, "mimic3", progress=False)


def _value(cohort, variable: str, hours: float) -> float:
    ev = cohort.events
    rows = ev[(ev["stay_id"] == 1000) & (ev["variable"] == variable) & np.isclose(ev["hours"], hours)]
    assert len(rows) == 1, f"{variable} at {hours} h: {len(rows)} rows"
    return float(rows["value"].iloc[0])


def test_cohort_rules(cohort) -> None:
    assert sorted(cohort.stays["stay_id"]) == [1000, 2000, 2001, 3000, 4000, 8000]
    assert cohort.quality.total("age under 18") == 1
    assert cohort.quality.total("admission with more than one ICU stay") == 2
    assert cohort.quality.total("ICU transfer (care unit or ward changed)") == 1


def test_stays_columns(cohort) -> None:
    s = cohort.stays.set_index("stay_id")
    assert s.loc[8000, "age"] == load_layout("mimic3").age_over_89
    assert abs(s.loc[1000, "age"] - 60) < 0.01
    assert s.loc[1000, "icu_type"] == "MICU" and s.loc[1000, "sex"] == "F"
    assert s.loc[2000, "ethnicity"] == "BLACK" and s.loc[2000, "insurance"] == "Private"
    assert s.loc[1000, "weight"] == 80.0 and s.loc[1000, "height"] == 170.0  # first in window
    assert s.loc[2001, "los_hours"] == pytest.approx(47.9)
    assert (s["source"] == "mimic3").all()


def test_labels(cohort) -> None:
    lab = cohort.labels.set_index("stay_id")
    assert lab.loc[1000, "mortality"] == 1 and pd.isna(lab.loc[1000, "readmission_30d"])
    assert lab.loc[2000, "mortality"] == 0 and lab.loc[2000, "readmission_30d"] == 1  # exactly 30 d
    assert pd.isna(lab.loc[2001, "mortality"]) and pd.isna(lab.loc[2001, "readmission_30d"])  # 47.9 h
    assert lab.loc[3000, "readmission_30d"] == 0  # 30 d + 1 min
    assert lab.loc[4000, "readmission_30d"] == 1  # died 29 d after discharge


def test_unit_conversions(cohort) -> None:
    assert _value(cohort, "temperature", 2.0) == pytest.approx(37.0)
    assert _value(cohort, "temperature", 2.5) == pytest.approx(37.5)
    assert _value(cohort, "weight", 4.0) == pytest.approx(220 * 0.45359237)
    assert _value(cohort, "height", 4.0) == pytest.approx(177.8)
    assert _value(cohort, "fio2", 5.0) == pytest.approx(0.5)
    assert _value(cohort, "glucose", 6.0) == 150.0  # LABEVENTS 50931
    assert set(cohort.events["unit"][cohort.events["variable"] == "temperature"]) == {"degC"}


def test_categorical_text(cohort) -> None:
    assert _value(cohort, "gcs_eye", 6.0) == 4      # "4 Spontaneously"
    assert _value(cohort, "gcs_eye", 7.0) == 2      # "To Pain"
    assert _value(cohort, "gcs_verbal", 6.0) == 1   # "No Response-ETT"
    assert _value(cohort, "gcs_motor", 6.0) == 6    # "Obeys Commands"
    assert _value(cohort, "cap_refill", 6.0) == 1   # "Abnormal >3 secs"
    assert _value(cohort, "cap_refill", 8.0) == 0   # "Normal <3 secs"
    assert cohort.quality.total("gcs_motor: value cannot be converted") == 1
    assert cohort.quality.total("lactate: value cannot be converted") == 1


def test_window_cut(cohort) -> None:
    hr = cohort.events[(cohort.events["stay_id"] == 1000) & (cohort.events["variable"] == "heart_rate")]
    assert sorted(hr["hours"].tolist()) == [1.0, 48.0]  # -1 h, 48.5 h, ERROR=1 and 400 bpm are gone
    assert cohort.quality.total("row marked as error (ERROR=1)") == 1
    assert cohort.quality.total("heart_rate: outside valid range [0, 350] bpm") == 1
    assert "sodium" not in set(cohort.events["variable"])  # charted at 50 h
    assert _value(cohort, "creatinine", 5.0) == 1.2  # LABEVENTS row without HADM_ID
    assert cohort.events["hours"].between(0, 48).all()
    cohort.validate(48.0)


def test_notes(cohort) -> None:
    notes = cohort.notes.set_index("note_id")
    assert sorted(notes.index) == ["1", "5"]
    assert notes.loc["5", "hours"] == 40.0  # CHARTDATE only: end of that day
    assert notes.loc["1", "text"] == NOTE_TEXT  # quoted newline, comma and quotes survive
    assert cohort.quality.total("discharge summary (written at discharge)") == 1
    assert cohort.quality.total("note marked as error (ISERROR=1)") == 1
    assert cohort.meta["notes_after_window"] == 2


def test_meta_and_roundtrip(cohort, tmp_path) -> None:
    assert cohort.meta["source"] == "mimic3" and cohort.meta["window_hours"] == 48.0
    assert cohort.meta["itemid_table"].startswith("mimic3_itemids.csv@")
    assert cohort.meta["itemids_not_in_dictionary"] == []
    cohort.save(tmp_path / "c")
    from realm.data.cohort import Cohort

    back = Cohort.load(tmp_path / "c")
    assert len(back.events) == len(cohort.events) and back.quality.total() == cohort.quality.total()


def test_lab_selection_and_window(tmp_path) -> None:
    root = write_mimic3(tmp_path / "m", gz=False)
    c = read_mimic(root, "mimic3", labs=["potassium"], window_hours=24, progress=False)
    variables = set(c.events["variable"])
    assert "potassium" in variables and "creatinine" not in variables
    assert c.events["hours"].max() <= 24 and c.meta["labs"] == ["potassium"]
    assert c.labels.set_index("stay_id").loc[2001, "mortality"] == 0  # 47.9 h >= 24 h
    with pytest.raises(ConfigError, match="troponin"):
        read_mimic(root, "mimic3", labs=["troponin"], progress=False)


def test_missing_column_names_file_and_column(tmp_path) -> None:
    root = write_mimic3(tmp_path / "m", gz=True)
    drop_column(root / "CHARTEVENTS.csv.gz", "ITEMID")
    with pytest.raises(DataError, match=r"CHARTEVENTS\.csv\.gz.*'ITEMID'"):
        read_mimic(root, "mimic3", progress=False)


def test_missing_table(tmp_path) -> None:
    root = write_mimic3(tmp_path / "m", gz=False)
    (root / "LABEVENTS.csv").unlink()
    with pytest.raises(DataError, match="LABEVENTS"):
        read_mimic(root, "mimic3", progress=False)


def test_not_gzip_is_a_data_error(tmp_path) -> None:
    root = write_mimic3(tmp_path / "m", gz=True)
    (root / "PATIENTS.csv.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match=r"PATIENTS\.csv\.gz"):
        read_mimic(root, "mimic3", progress=False)


def test_truncated_gzip_is_a_data_error(tmp_path) -> None:
    root = write_mimic3(tmp_path / "m", gz=True)
    path = root / "CHARTEVENTS.csv.gz"
    header, *rows = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    blob = gzip.compress((header + "".join(rows) * 2000).encode())
    path.write_bytes(blob[: len(blob) // 2])  # the header reads fine; the stream ends early
    with pytest.raises(DataError, match=r"CHARTEVENTS\.csv\.gz"):
        read_mimic(root, "mimic3", progress=False)


def test_bad_row_error_hides_note_text(tmp_path) -> None:
    root = write_mimic3(tmp_path / "m", gz=False)
    path = root / "NOTEEVENTS.csv"
    path.write_text(path.read_text() + "notanumber,1,100,2101-01-01,,,Nursing,n,,,SECRET PATIENT TEXT\n")
    with pytest.raises(DataError) as info:
        read_mimic(root, "mimic3", progress=False, strict=True)
    assert "NOTEEVENTS.csv" in str(info.value) and "SECRET" not in str(info.value)
    # Without strict the row is counted by line and skipped; its text is never reported.
    report = read_mimic(root, "mimic3", progress=False).quality.to_dict()
    row = [p for p in report["problems"] if p["file"] == "NOTEEVENTS.csv" and p["field"] == "ROW_ID"]
    n_rows = len(list(csv.reader(path.open(newline=""))))  # the header is row 1
    assert row and row[0]["count"] == 1 and row[0]["examples"] == [f"row {n_rows}"]
    assert "SECRET" not in str(report)


# -- value conversion properties -------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(st.floats(min_value=-100, max_value=300, allow_nan=False))
def test_fahrenheit_round_trip(f: float) -> None:
    out, bad = convert_values("f_to_c", pd.Series([str(f)]), pd.Series([math.nan]))
    assert not bad[0] and out[0] * 9 / 5 + 32 == pytest.approx(f, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(st.floats(min_value=0, max_value=100, allow_nan=False))
def test_fio2_is_a_fraction(v: float) -> None:
    out, bad = convert_values("fio2_fraction", pd.Series([None]), pd.Series([v]))
    assert not bad[0] and 0 <= out[0] <= 1
    assert out[0] == pytest.approx(v / 100 if v > 1 else v)


@settings(max_examples=150, deadline=None)
@given(conv=st.sampled_from(["gcs_eye", "gcs_motor", "gcs_verbal", "cap_refill"]), text=st.text(max_size=30))
def test_category_parse_never_invents_a_category(conv: str, text: str) -> None:
    cats = {"gcs_eye": (1, 2, 3, 4), "gcs_motor": (1, 2, 3, 4, 5, 6), "gcs_verbal": (1, 2, 3, 4, 5),
            "cap_refill": (0, 1)}[conv]
    out, bad = convert_values(conv, pd.Series([text], dtype=object), pd.Series([math.nan]), cats)
    assert bad[0] or out[0] in cats


@settings(max_examples=60, deadline=None)
@given(score=st.integers(min_value=1, max_value=6), word=st.sampled_from(["Obeys Commands", "Flex-withdraws", ""]))
def test_leading_score_wins(score: int, word: str) -> None:
    assert parse_category("gcs_motor", f"{score} {word}") == score


def test_numbers_from_value_text_when_valuenum_is_empty() -> None:
    out, bad = convert_values("lb_to_kg", pd.Series(["10", "x", None]), pd.Series([math.nan, math.nan, 2.0]))
    assert out[0] == pytest.approx(4.5359237) and bad.tolist() == [False, True, False]
    with pytest.raises(ConfigError):
        convert_values("furlongs", pd.Series(["1"]), pd.Series([1.0]))
