"""The shipped mapping for the MIMIC-IV MEDS ETL's codes, on a small hand-made MEDS dataset
written with those codes (the ETL's `event_configs.yaml` vocabulary), and kept in step with
realm's own MIMIC-IV itemid map."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from realm.cli import main
from realm.data.meds.mapping import load_mapping, packaged_mapping

MICU = "Medical Intensive Care Unit (MICU)"
T0 = datetime(2150, 1, 1, 10, 0)  # subject 1's ICU admission
T1 = datetime(2151, 3, 1, 12, 0)  # subject 2's


def _h(t: datetime, hours: float) -> datetime:
    return t + timedelta(hours=hours)


# subject_id, time, code, numeric_value, text_value, hadm_id, icustay_id
ROWS = [
    (1, None, "GENDER//F", None, None, None, None),
    (1, datetime(2050, 1, 1), "MEDS_BIRTH", None, None, None, None),
    (1, _h(T0, -2), "HOSPITAL_ADMISSION//EW EMER.//EMERGENCY ROOM", None, None, 201, None),
    (1, _h(T0, -2), "RACE//WHITE", None, None, 201, None),
    (1, _h(T0, -2), "INSURANCE//Medicare", None, None, 201, None),
    (1, _h(T0, -1), "MEDICATION//START//Heparin//00338055002", None, None, 201, None),
    (1, T0, f"ICU_ADMISSION//{MICU}", None, None, 201, 301),
    (1, _h(T0, 1), "LAB//220045//bpm", 90.0, "90", 201, 301),
    (1, _h(T0, 2), "LAB//223761//°F", 100.4, "100.4", 201, 301),
    (1, _h(T0, 3), "LAB//220739//UNK", None, "To Speech", 201, 301),
    (1, _h(T0, 4), "SUBJECT_WEIGHT_AT_INFUSION//KG", 71.5, None, None, None),
    (1, _h(T0, 5), "LAB//RESULT//50912//mg/dL", 1.2, "1.2", 201, None),
    (1, _h(T0, 5), "LAB//SPECIMEN_COLLECTED//50912//STAT", None, None, 201, None),
    (1, _h(T0, 6), "MEDICATION//Heparin//Administered//00338055002", None, None, 201, None),
    (1, _h(T0, 7), "Blood Pressure", None, "120/80", None, None),  # hosp/omr: not mapped
    (1, _h(T0, 60), "LAB//220045//bpm", 120.0, "120", 201, 301),  # after the 48 h cut
    (1, _h(T0, 72), "ICU_DISCHARGE//MICU", None, None, 201, 301),
    (1, _h(T0, 80), "DIAGNOSIS//ICD//10//I10", None, None, 201, None),
    (1, _h(T0, 80), "MEDS_DEATH", None, None, None, None),
    (1, _h(T0, 80), "HOSPITAL_DISCHARGE//DIED", None, None, 201, None),
    (2, None, "GENDER//M", None, None, None, None),
    (2, datetime(2060, 7, 1), "MEDS_BIRTH", None, None, None, None),
    (2, _h(T1, -1), "HOSPITAL_ADMISSION//URGENT//TRANSFER FROM HOSPITAL", None, None, 202, None),
    (2, T1, "ICU_ADMISSION//Coronary Care Unit (CCU)", None, None, 202, 302),
    (2, _h(T1, 2), "LAB//220045//bpm", 75.0, "75", 202, 302),
    (2, _h(T1, 50), "ICU_DISCHARGE//CCU", None, None, 202, 302),
    (2, _h(T1, 100), "HOSPITAL_DISCHARGE//HOME", None, None, 202, None),
    (2, _h(T1, 24 * 20), "HOSPITAL_ADMISSION//EW EMER.//EMERGENCY ROOM", None, None, 203, None),
    (2, _h(T1, 24 * 22), "HOSPITAL_DISCHARGE//HOME", None, None, 203, None),
]


@pytest.fixture(scope="module")
def mimic4_meds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mimic4-meds")
    frame = pl.DataFrame(ROWS, orient="row", schema={
        "subject_id": pl.Int64, "time": pl.Datetime("us"), "code": pl.String,
        "numeric_value": pl.Float32, "text_value": pl.String, "hadm_id": pl.Int64,
        "icustay_id": pl.Int64})
    for split, subject in (("train", 1), ("held_out", 2)):
        (root / "data" / split).mkdir(parents=True)
        rows = frame.filter(pl.col("subject_id") == subject).sort("time", nulls_last=False)
        # Through pyarrow with MEDS's types (code: string, not polars' large_string), as the
        # ETL writes its shards.
        table = rows.to_arrow()
        pq.write_table(table.set_column(2, "code", table.column("code").cast(pa.string())),
                       root / "data" / split / "0.parquet")
    (root / "metadata").mkdir()
    pq.write_table(pa.table({"subject_id": pa.array([1, 2], pa.int64()),
                             "split": pa.array(["train", "held_out"], pa.string())}),
                   root / "metadata" / "subject_splits.parquet")
    (root / "metadata" / "dataset.json").write_text(json.dumps(
        {"dataset_name": "MIMIC-IV", "dataset_version": "3.1", "etl_name": "MIMIC_IV_MEDS",
         "etl_version": "test", "meds_version": "0.4.1"}))
    return root


@pytest.fixture(scope="module")
def cohort(mimic4_meds: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mimic4-cohort") / "cohort"
    assert main(["data", "prepare", "--source", "meds", "--root", str(mimic4_meds), "--mapping",
                 str(packaged_mapping("mimic4")), "--out", str(out), "--no-progress"]) == 0
    return out


def test_stays_admissions_attributes_and_splits(cohort: Path) -> None:
    stays = pd.read_parquet(cohort / "stays.parquet").set_index("stay_id").sort_index()
    assert stays.index.tolist() == [301, 302]  # the ETL's icustay_id
    assert stays["hadm_id"].tolist() == [201, 202]
    assert stays["icu_type"].tolist() == [MICU, "Coronary Care Unit (CCU)"]
    assert stays["sex"].tolist() == ["F", "M"]
    assert stays["age"].tolist() == pytest.approx([100.0, 90.67], abs=0.01)  # from MEDS_BIRTH
    assert stays.loc[301, "ethnicity"] == "WHITE" and stays.loc[301, "insurance"] == "Medicare"
    assert stays.loc[301, "weight"] == pytest.approx(71.5)
    assert stays["split"].astype(str).tolist() == ["train", "test"]


def test_chart_and_lab_items_with_conversions(cohort: Path) -> None:
    events = pd.read_parquet(cohort / "events.parquet")
    got = {(r.stay_id, r.variable): (round(r.value, 4), r.unit, round(r.hours, 4))
           for r in events.itertuples()}
    assert got == {
        (301, "heart_rate"): (90.0, "bpm", 1.0),
        (301, "temperature"): (38.0, "degC", 2.0),    # 100.4 °F
        (301, "gcs_eye"): (3.0, "score", 3.0),        # "To Speech", parsed
        (301, "creatinine"): (1.2, "mg/dL", 5.0),     # labevents: no icustay_id, by time
        (302, "heart_rate"): (75.0, "bpm", 2.0),
    }


def test_drug_orders_labels_and_counted_codes(cohort: Path) -> None:
    meds = pd.read_parquet(cohort / "medications.parquet")
    assert meds["drug"].tolist() == ["Heparin"] and meds["stay_id"].tolist() == [301]
    labels = pd.read_parquet(cohort / "labels.parquet").set_index("stay_id").sort_index()
    assert labels["mortality"].tolist() == [1, 0]
    assert labels.loc[302, "readmission_30d"] == 1  # back 18 days after discharge
    quality = pd.DataFrame(json.loads((cohort / "quality.json").read_text())["problems"])
    codes = quality[quality["field"] == "code"]
    assert codes["reason"].tolist() == ["code 'Blood Pressure' not in mapping 'mimic4'"]
    late = quality[quality["reason"] == "after the prediction window"]
    assert late["count"].sum() == 1


def test_time_series_rules_cover_realm_mimic4_itemids() -> None:
    mapping = load_mapping(packaged_mapping("mimic4"))
    items = pd.read_csv(Path(__file__).parents[3] / "realm" / "resources" / "mimic4_itemids.csv")
    for item in items.itertuples():
        prefixes = ["LAB//"] if item.table == "chartevents" else ["LAB//RESULT//", "LAB//"]
        for prefix in prefixes:
            kind, fields = mapping.classify(f"{prefix}{item.itemid}//{item.source_unit}")
            assert (kind, fields["variable"]) == ("time_series", item.variable), item.itemid
            assert fields.get("conversion", "none") == item.conversion, item.itemid
