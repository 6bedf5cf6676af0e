"""The export is a valid MEDS dataset by the ``meds`` package's own schemas, in realm's
documented code scheme."""

from __future__ import annotations

import json
from pathlib import Path

import meds
import pandas as pd
import pyarrow.parquet as pq
import pytest

from realm.data.meds import export_meds
from realm.data.meds.export import ANCHOR
from realm.errors import DataError
from tests.data.meds.meds_fixtures import physionet_cohort


@pytest.fixture(scope="module")
def exported(synthetic_export, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic cohort in shards of 10 subjects."""
    return export_meds(synthetic_export[0], tmp_path_factory.mktemp("export") / "meds",
                       subjects_per_shard=10)


def test_every_table_passes_the_meds_schemas(exported: Path) -> None:
    shards = sorted((exported / "data").rglob("*.parquet"))
    assert {p.parent.name for p in shards} <= {"train", "tuning", "held_out"}
    assert len(shards) > 3  # 10 subjects a shard: several shards per split
    seen: dict[int, Path] = {}
    codes: set[str] = set()
    for shard in shards:
        table = pq.read_table(shard)
        meds.DataSchema.validate(table)
        frame = table.to_pandas()
        for subject, rows in frame.groupby("subject_id", sort=False):
            assert subject not in seen, f"subject {subject} in {seen.get(subject)} and {shard}"
            seen[subject] = shard
            times = rows["time"].dropna()
            assert times.is_monotonic_increasing
            static = rows["time"].isna().to_numpy()
            assert not static[static.sum():].any()  # statics first
        assert frame["subject_id"].is_monotonic_increasing  # contiguous subjects
        codes |= set(frame["code"])
    splits = pq.read_table(exported / "metadata" / "subject_splits.parquet")
    meds.SubjectSplitSchema.validate(splits)
    split_of = dict(zip(*splits.to_pydict().values()))
    assert all(split_of[s] == shard.parent.name for s, shard in seen.items())
    metadata = pq.read_table(exported / "metadata" / "codes.parquet")
    meds.CodeMetadataSchema.validate(metadata)
    assert codes <= set(metadata.column("code").to_pylist())
    dataset = json.loads((exported / "metadata" / "dataset.json").read_text())
    meds.DatasetMetadataSchema.validate(dataset)
    assert dataset["raw_source_id_columns"] == ["stay_id", "hadm_id", "note_id"]
    for label_file in (exported / "labels").rglob("*.parquet"):
        meds.LabelSchema.validate(pq.read_table(label_file))


def test_code_scheme_and_anchor_on_physionet(tmp_path: Path) -> None:
    out = export_meds(physionet_cohort(tmp_path), tmp_path / "meds")
    frame = pd.concat([pd.read_parquet(p) for p in sorted((out / "data").rglob("*.parquet"))])
    stay = frame[frame["stay_id"] == 132539]
    admission = stay[stay["code"].str.startswith("ICU_ADMISSION")]
    assert admission["code"].tolist() == ["ICU_ADMISSION//Surgical ICU"]
    assert admission["time"].tolist() == [ANCHOR]
    hr = stay[stay["code"] == "LAB//heart_rate//bpm"]
    assert hr["time"].iloc[0] == ANCHOR + pd.Timedelta(minutes=7)
    assert hr["numeric_value"].iloc[0] == 73
    assert "GENDER//F" in set(frame.loc[frame["subject_id"] == 132539, "code"])
    labels = pd.concat([pd.read_parquet(p)
                        for p in sorted((out / "labels" / "mortality").rglob("*.parquet"))])
    assert set(labels["prediction_time"]) == {ANCHOR + pd.Timedelta(hours=48)}
    # PhysioNet 2012 has no readmission label: its label files are there, and empty.
    readmission = list((out / "labels" / "readmission_30d").rglob("*.parquet"))
    assert readmission and sum(len(pd.read_parquet(p)) for p in readmission) == 0


def test_export_refuses_a_folder_that_is_not_a_cohort(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="meta.json"):
        export_meds(tmp_path, tmp_path / "meds")
