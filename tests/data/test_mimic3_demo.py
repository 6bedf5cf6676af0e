"""The MIMIC-III path end to end on the public MIMIC-III demo (100 patients, every table in
MIMIC-III v1.4's own format), with the labels checked against a computation written here
from ADMISSIONS, ICUSTAYS and PATIENTS alone, and the quality report's counts pinned.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from realm.data.prepare import prepare_cohort

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

WINDOW = pd.Timedelta(hours=48)
# Every row the reader skipped or excluded on the demo, by (file, field, reason). A change
# here is a change in what the reader keeps: review it, then update the numbers.
QUALITY = {
    ("CHARTEVENTS.csv.gz", "ERROR", "row marked as error (ERROR=1)"): 16,
    ("CHARTEVENTS.csv.gz", "VALUE", "fio2: outside valid range [0.21, 1] fraction"): 2,
    ("CHARTEVENTS.csv.gz", "VALUE", "fio2: value cannot be converted"): 1,
    ("CHARTEVENTS.csv.gz", "VALUE", "gcs_motor: value cannot be converted"): 1,
    ("CHARTEVENTS.csv.gz", "VALUE", "gcs_verbal: value cannot be converted"): 2,
    ("CHARTEVENTS.csv.gz", "VALUE", "glucose: value cannot be converted"): 3,
    ("CHARTEVENTS.csv.gz", "VALUE", "heart_rate: value cannot be converted"): 3,
    ("CHARTEVENTS.csv.gz", "VALUE", "height: value cannot be converted"): 28,
    ("CHARTEVENTS.csv.gz", "VALUE", "map: outside valid range [0, 375] mmHg"): 1,
    ("CHARTEVENTS.csv.gz", "VALUE", "map: value cannot be converted"): 5,
    ("CHARTEVENTS.csv.gz", "VALUE", "ni_map: value cannot be converted"): 2,
    ("CHARTEVENTS.csv.gz", "VALUE", "ni_sbp: outside valid range [0, 375] mmHg"): 1,
    ("CHARTEVENTS.csv.gz", "VALUE", "ni_sbp: value cannot be converted"): 2,
    ("CHARTEVENTS.csv.gz", "VALUE", "ph: outside valid range [6.3, 8.4] pH"): 13,
    ("CHARTEVENTS.csv.gz", "VALUE", "resp_rate: value cannot be converted"): 1,
    ("CHARTEVENTS.csv.gz", "VALUE", "sbp: value cannot be converted"): 4,
    ("CHARTEVENTS.csv.gz", "VALUE", "spo2: value cannot be converted"): 7,
    ("CHARTEVENTS.csv.gz", "VALUE", "temperature: value cannot be converted"): 8,
    ("CHARTEVENTS.csv.gz", "VALUE", "weight: value cannot be converted"): 3,
    ("ICUSTAYS.csv.gz", "AGE", "age under 18"): 1,
    ("ICUSTAYS.csv.gz", "HADM_ID", "admission with more than one ICU stay"): 11,
    ("ICUSTAYS.csv.gz", "LAST_CAREUNIT", "ICU transfer (care unit or ward changed)"): 10,
    ("LABEVENTS.csv.gz", "VALUE", "fio2: outside valid range [0.21, 1] fraction"): 1,
}


@pytest.fixture(scope="module")
def demo(shared_data: Path) -> Path:
    root = shared_data / "mimic3-demo"
    if not (root / "ICUSTAYS.csv.gz").is_file():
        pytest.skip(f"MIMIC-III demo not found at {root}")
    return root


@pytest.fixture(scope="module")
def cohort(demo: Path, tmp_path_factory):
    cohort, _ = prepare_cohort("mimic3", demo, tmp_path_factory.mktemp("demo") / "cohort",
                               progress=False)
    return cohort


def _table(demo: Path, name: str, dates: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.read_csv(demo / f"{name}.csv.gz")
    frame.columns = [c.upper() for c in frame.columns]  # the demo spells them lower-case
    for col in dates:
        frame[col] = pd.to_datetime(frame[col])
    return frame


@pytest.fixture(scope="module")
def expected(demo: Path) -> pd.DataFrame:
    """The cohort and its labels computed from the raw tables, independently of realm."""
    icu = _table(demo, "ICUSTAYS", ("INTIME", "OUTTIME"))
    adm = _table(demo, "ADMISSIONS", ("ADMITTIME", "DISCHTIME", "DEATHTIME"))
    pat = _table(demo, "PATIENTS", ("DOB", "DOD"))
    # mimic3-benchmarks' root rules: no transfer, one ICU stay per admission, adults.
    stays = icu[(icu["FIRST_CAREUNIT"] == icu["LAST_CAREUNIT"])
                & (icu["FIRST_WARDID"] == icu["LAST_WARDID"])]
    stays = stays[stays.groupby("HADM_ID")["ICUSTAY_ID"].transform("size") == 1]
    stays = stays.merge(pat[["SUBJECT_ID", "DOB", "DOD"]], on="SUBJECT_ID")
    age_days = (stays["INTIME"].dt.date - stays["DOB"].dt.date).map(lambda d: d.days)
    stays = stays[age_days >= 18 * 365.2425]
    stays = stays.merge(adm.drop(columns=["SUBJECT_ID"]), on="HADM_ID")

    rows = []
    for s in stays.itertuples():
        long_enough = s.OUTTIME - s.INTIME >= WINDOW
        died = (pd.notna(s.DEATHTIME) and s.DEATHTIME <= s.DISCHTIME) or s.HOSPITAL_EXPIRE_FLAG == 1
        mortality = (1 if died else 0) if long_enough else pd.NA
        readmission = pd.NA
        if long_enough and not died:
            others = adm[(adm["SUBJECT_ID"] == s.SUBJECT_ID) & (adm["HADM_ID"] != s.HADM_ID)]
            events = [*others["ADMITTIME"], *adm.loc[adm["SUBJECT_ID"] == s.SUBJECT_ID, "DEATHTIME"],
                      s.DOD]
            end = s.DISCHTIME + pd.Timedelta(days=30)
            readmission = int(any(pd.notna(t) and s.DISCHTIME < t <= end for t in events))
        rows.append((s.ICUSTAY_ID, s.SUBJECT_ID, s.HADM_ID, mortality, readmission))
    return pd.DataFrame(rows, columns=["stay_id", "subject_id", "hadm_id", "mortality",
                                       "readmission_30d"]).set_index("stay_id").sort_index()


def test_cohort_is_the_root_rules(cohort, expected) -> None:
    got = cohort.stays.set_index("stay_id").sort_index()
    assert list(got.index) == list(expected.index)
    assert (got["subject_id"] == expected["subject_id"]).all()
    assert (got["hadm_id"] == expected["hadm_id"]).all()


@pytest.mark.parametrize("task", ["mortality", "readmission_30d"])
def test_labels_match_an_independent_computation(cohort, expected, task) -> None:
    got = cohort.labels.set_index("stay_id").sort_index()[task]
    want = expected[task]
    assert (got.isna() == want.isna()).all(), task
    defined = want.notna()
    assert defined.sum() > 0 and (got[defined].astype(int) == want[defined].astype(int)).all()


def test_events_and_medications(cohort) -> None:
    stays = set(cohort.stays["stay_id"])
    assert set(cohort.events["stay_id"]) <= stays
    assert cohort.events["hours"].between(0, 48).all()
    meds = cohort.medications
    assert len(meds) > 0 and set(meds["stay_id"]) <= stays
    assert (meds["hours"] <= 48).all() and meds["drug"].str.strip().ne("").all()
    # Most stays had drug orders by the prediction time on a real ICU.
    assert meds["stay_id"].nunique() > len(stays) // 2


def test_quality_report_counts_are_pinned(cohort) -> None:
    got = {(r["file"], r["field"], r["reason"]): r["count"]
           for r in cohort.quality.to_dict()["problems"]}
    assert got == QUALITY
    assert len(cohort.stays) == 114 and len(cohort.events) == 42632 and len(cohort.notes) == 0 and len(cohort.medications) == 4377
