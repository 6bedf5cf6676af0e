"""A MEDS dataset nobody here wrote: meds-testing-helpers' static sample, read through
``realm data prepare --source meds --mapping`` with a mapping for its codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from realm.cli import main

helpers = pytest.importorskip("meds_testing_helpers.dataset")
from meds_testing_helpers.static_sample_data import SIMPLE_STATIC_SHARDED_BY_SPLIT  # noqa: E402

MAPPING = Path(__file__).with_name("mappings") / "meds_testing_helpers.yaml"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("meds-sample")
    helpers.MEDSDataset.from_yaml(SIMPLE_STATIC_SHARDED_BY_SPLIT).write(root)
    return root


@pytest.fixture(scope="module")
def prepared(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("meds-sample-cohort") / "cohort"
    assert main(["data", "prepare", "--source", "meds", "--root", str(sample), "--mapping",
                 str(MAPPING), "--out", str(out), "--no-progress"]) == 0
    return out


def _data(sample: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((sample / "data").rglob("*.parquet")))


def test_every_admission_is_a_stay_with_its_split(sample: Path, prepared: Path) -> None:
    data = _data(sample)
    admissions = data.filter(pl.col("code").str.starts_with("ADMISSION//"))
    stays = pd.read_parquet(prepared / "stays.parquet")
    assert len(stays) == admissions.height == 6
    assert sorted(stays["icu_type"]) == sorted(admissions["code"].str.split("//").list.get(1))
    splits = pl.read_parquet(sample / "metadata" / "subject_splits.parquet").to_pandas()
    want = splits.set_index("subject_id")["split"].map(
        {"train": "train", "tuning": "val", "held_out": "test"})
    assert (stays["split"].astype(str) == stays["subject_id"].map(want)).all()
    height = data.filter(pl.col("code") == "HEIGHT").to_pandas().set_index("subject_id")
    assert stays.set_index("subject_id")["height"].sort_index().tolist() == \
        pytest.approx(height["numeric_value"].sort_index().tolist(), rel=1e-6)


def test_vitals_are_read_and_fahrenheit_converted(sample: Path, prepared: Path) -> None:
    data = _data(sample).to_pandas()
    events = pd.read_parquet(prepared / "events.parquet")
    for code, variable in (("HR", "heart_rate"), ("TEMP", "temperature")):
        assert (events["variable"] == variable).sum() == (data["code"] == code).sum()
    temp = events[events["variable"] == "temperature"]
    assert set(temp["unit"]) == {"degC"}
    want = (data.loc[data["code"] == "TEMP", "numeric_value"].astype(float) - 32) * 5 / 9
    assert sorted(temp["value"]) == pytest.approx(sorted(want), abs=1e-4)
    assert temp["hours"].between(0, 48).all()


def test_every_code_is_mapped_and_stays_are_too_short_for_labels(prepared: Path) -> None:
    quality = json.loads((prepared / "quality.json").read_text())
    assert not [e for e in _entries(quality) if e.get("field") == "code"]
    labels = pd.read_parquet(prepared / "labels.parquet")
    # Every sample stay lasts under two hours: realm's 48 h tasks are undefined for all.
    assert labels["mortality"].isna().all()


def _entries(quality: object) -> list[dict]:
    if isinstance(quality, dict):
        found = [quality] if "field" in quality else []
        return found + [e for v in quality.values() for e in _entries(v)]
    if isinstance(quality, list):
        return [e for v in quality for e in _entries(v)]
    return []
