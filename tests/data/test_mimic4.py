"""The MIMIC-IV reader on a tiny hosp/icu/note database with hand-known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mimic_fixtures import NOTE_TEXT, drop_column, write_mimic4

from realm.data.readers.mimic import read_mimic
from realm.errors import DataError


@pytest.fixture(scope="module", params=["csv", "csv.gz"])
def cohort(request, tmp_path_factory):
    root = write_mimic4(tmp_path_factory.mktemp("m4") / "mimic4", gz=request.param == "csv.gz")
    return read_mimic(root, "mimic4", progress=False)


def _value(cohort, variable: str, hours: float) -> float:
    ev = cohort.events
    rows = ev[(ev["stay_id"] == 1000) & (ev["variable"] == variable) & np.isclose(ev["hours"], hours)]
    assert len(rows) == 1
    return float(rows["value"].iloc[0])


def test_cohort_and_age(cohort) -> None:
    s = cohort.stays.set_index("stay_id")
    assert sorted(s.index) == [1000, 2000, 2001, 3000, 4000, 8000]
    # anchor_age + (year(intime) - anchor_year); the fixture anchors one year before intime.
    assert s.loc[1000, "age"] == 61 and s.loc[8000, "age"] == 92
    assert s.loc[2000, "ethnicity"] == "BLACK"  # from `race`
    assert cohort.quality.total("age under 18") == 1
    assert cohort.quality.total("admission with more than one ICU stay") == 2
    assert cohort.quality.total("ICU transfer (care unit or ward changed)") == 1
    assert (s["source"] == "mimic4").all() and cohort.meta["source"] == "mimic4"


def test_labels(cohort) -> None:
    lab = cohort.labels.set_index("stay_id")
    assert lab.loc[1000, "mortality"] == 1 and pd.isna(lab.loc[1000, "readmission_30d"])
    assert lab.loc[2000, "readmission_30d"] == 1 and lab.loc[3000, "readmission_30d"] == 0
    assert lab.loc[4000, "readmission_30d"] == 1  # dod (a date) 29 days after discharge
    assert pd.isna(lab.loc[2001, "mortality"])


def test_events(cohort) -> None:
    assert _value(cohort, "temperature", 2.0) == pytest.approx(37.0)
    assert _value(cohort, "weight", 4.0) == pytest.approx(220 * 0.45359237)
    assert _value(cohort, "gcs_verbal", 6.0) == 1
    assert _value(cohort, "creatinine", 5.0) == 1.2  # labevents row without hadm_id
    hr = cohort.events[(cohort.events["stay_id"] == 1000) & (cohort.events["variable"] == "heart_rate")]
    assert sorted(hr["hours"].tolist()) == [1.0, 48.0]  # -1 h, 48.5 h and 400 bpm are gone
    assert cohort.quality.total("gcs_motor: value cannot be converted") == 1
    cohort.validate(48.0)


def test_notes(cohort) -> None:
    assert cohort.notes["note_id"].tolist() == ["1-RR-1"]
    assert cohort.notes["hours"].iloc[0] == 10.0 and cohort.notes["text"].iloc[0] == NOTE_TEXT
    assert cohort.notes["category"].iloc[0] == "Radiology"
    assert cohort.quality.total("discharge note (written at discharge)") == 1
    assert cohort.meta["notes_after_window"] == 1


def test_without_notes_folder(tmp_path) -> None:
    root = write_mimic4(tmp_path / "m", gz=False)
    for f in (root / "note").iterdir():
        f.unlink()
    (root / "note").rmdir()
    c = read_mimic(root, "mimic4", progress=False)
    assert c.notes.empty and len(c.stays) == 6


def test_missing_column_names_file_and_column(tmp_path) -> None:
    root = write_mimic4(tmp_path / "m", gz=True)
    drop_column(root / "icu" / "icustays.csv.gz", "intime")
    with pytest.raises(DataError, match=r"icustays\.csv\.gz.*'intime'"):
        read_mimic(root, "mimic4", progress=False)


def test_corrupt_gzip(tmp_path) -> None:
    root = write_mimic4(tmp_path / "m", gz=True)
    (root / "hosp" / "labevents.csv.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match=r"labevents\.csv\.gz"):
        read_mimic(root, "mimic4", progress=False)
