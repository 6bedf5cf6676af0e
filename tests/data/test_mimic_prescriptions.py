"""PRESCRIPTIONS -> the cohort's medications table, with the prediction-time cut.

Stay 1000 of the fixture scenario starts at T0 = 2101-01-01 08:00; its prediction time
(48 h) is 2101-01-03 08:00. MIMIC-III STARTDATE is a date, so an order is known at the end
of its start day; MIMIC-IV starttime is a time.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mimic_fixtures import T0, ts, write_mimic3, write_mimic4

from realm.data.cohort import Cohort
from realm.data.readers.mimic import read_mimic
from realm.errors import DataError

M3_HEADER = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "STARTDATE", "ENDDATE", "DRUG_TYPE", "DRUG",
             "DRUG_NAME_POE", "DRUG_NAME_GENERIC", "FORMULARY_DRUG_CD", "GSN", "NDC", "PROD_STRENGTH",
             "DOSE_VAL_RX", "DOSE_UNIT_RX", "FORM_VAL_DISP", "FORM_UNIT_DISP", "ROUTE"]
# (HADM_ID, STARTDATE, ENDDATE, DRUG, ROUTE) -> expected hours of stay 1000, or None when dropped
M3_ORDERS = [
    (100, "2100-12-31 00:00:00", "2101-01-09 00:00:00", "Heparin", "SC", -8.0),  # ward order before the ICU
    (100, "2101-01-01 00:00:00", "2101-01-02 00:00:00", "Vancomycin", "IV", 16.0),  # end of the start day
    (100, "2101-01-02 00:00:00", "2101-01-02 00:00:00", "Potassium Chloride", "PO", 40.0),
    (100, "2101-01-03 00:00:00", "2101-01-04 00:00:00", "Morphine Sulfate", "IV", None),  # known after the cut
    (100, None, None, "Aspirin", "PO", None),           # no start: counted
    (100, "2101-01-01 00:00:00", None, "", "PO", None),  # no drug: counted
    (999, "2101-01-01 00:00:00", None, "Insulin", "SC", None),  # not a cohort admission
    (700, "2101-01-01 00:00:00", None, "Insulin", "SC", None),  # admission excluded (two ICU stays)
]


def _write_csv(path: Path, header: list[str], rows: list[list], gz: bool) -> None:
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])


def _m3_rows() -> list[list]:
    return [[i, 1, hadm, None, start, end, "MAIN", drug, drug, drug, "X", None, "0", "1", "1", "mg", "1", "TAB", route]
            for i, (hadm, start, end, drug, route, _) in enumerate(M3_ORDERS)]


@pytest.fixture(scope="module")
def mimic3(tmp_path_factory) -> Cohort:
    root = write_mimic3(tmp_path_factory.mktemp("m3rx") / "mimic3")
    _write_csv(root / "PRESCRIPTIONS.csv", M3_HEADER, _m3_rows(), gz=False)
    return read_mimic(root, "mimic3", progress=False)


def test_mimic3_orders_known_by_the_prediction_time(mimic3: Cohort) -> None:
    meds = mimic3.medications
    assert meds is not None
    expected = {drug: h for _, _, _, drug, _, h in M3_ORDERS if h is not None}
    got = dict(zip(meds["drug"], meds["hours"].astype(float)))
    assert got.keys() == expected.keys()
    for drug, hours in expected.items():
        assert got[drug] == pytest.approx(hours, abs=1e-3), drug
    assert set(meds["stay_id"]) == {1000}
    assert dict(zip(meds["drug"], meds["route"]))["Vancomycin"] == "IV"
    assert (meds["hours"] <= 48.0).all()
    assert mimic3.meta["orders_after_window"] == 1
    assert mimic3.quality.total("order without a start time") == 1
    assert mimic3.quality.total("order without a drug name") == 1


def test_medications_survive_save_and_load(mimic3: Cohort, tmp_path) -> None:
    mimic3.save(tmp_path / "c")
    assert Cohort.load(tmp_path / "c").medications is None  # only read when asked for
    back = Cohort.load(tmp_path / "c", tables=("medications",)).medications
    assert back is not None
    pd.testing.assert_frame_equal(back, mimic3.medications)
    assert Cohort.load(tmp_path / "c", tables=()).meta["counts"]["medications"] == len(back)


def test_a_late_order_fails_validation(mimic3: Cohort) -> None:
    late = mimic3.medications.copy()
    late.loc[0, "hours"] = np.float32(48.5)
    cohort = Cohort(stays=mimic3.stays, events=mimic3.events, notes=mimic3.notes, labels=mimic3.labels,
                    meta=mimic3.meta, medications=late)
    with pytest.raises(DataError, match="medications.hours"):
        cohort.validate()


def test_no_prescriptions_table_means_no_medications(tmp_path) -> None:
    cohort = read_mimic(write_mimic3(tmp_path / "m3"), "mimic3", progress=False)
    assert cohort.medications is None


def test_mimic4_prescriptions_cut_by_starttime(tmp_path) -> None:
    root = write_mimic4(tmp_path / "mimic4")
    header = ["subject_id", "hadm_id", "pharmacy_id", "poe_id", "poe_seq", "order_provider_id", "starttime",
              "stoptime", "drug_type", "drug", "formulary_drug_cd", "gsn", "ndc", "prod_strength",
              "form_rx", "dose_val_rx", "dose_unit_rx", "form_val_disp", "form_unit_disp", "doses_per_24_hrs",
              "route"]
    orders = [("Heparin", ts(T0, -3)), ("Cefepime", ts(T0, 47, 59)), ("Furosemide", ts(T0, 48, 1))]
    rows = [[1, 100, i, None, None, None, start, None, "MAIN", drug, None, None, None, None, None, "1", "mg",
             "1", "TAB", None, "IV"] for i, (drug, start) in enumerate(orders)]
    _write_csv(root / "hosp" / "prescriptions.csv.gz", header, rows, gz=True)
    meds = read_mimic(root, "mimic4", progress=False).medications
    assert meds is not None
    got = dict(zip(meds["drug"], meds["hours"].astype(float)))
    assert got == pytest.approx({"Heparin": -3.0, "Cefepime": 47 + 59 / 60})  # Furosemide came after the cut
