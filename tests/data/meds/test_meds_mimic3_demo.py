"""The real MIMIC-III demo (100 patients, every table in full MIMIC-III's format) through
MEDS: the round trip keeps the cohort, and ACES labels mortality at 48 h as realm does."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.data.cohort import Cohort
from realm.data.prepare import prepare_cohort
from tests.data.meds.meds_fixtures import ALL_TABLES, round_trip
from tests.data.meds.test_meds_aces import aces_labels, realm_labels
from tests.data.meds.test_meds_round_trip import check_same

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = shared_data / "mimic3-demo"
    if not (root / "ADMISSIONS.csv.gz").is_file():
        pytest.skip("MIMIC-III demo not present")
    out = tmp_path_factory.mktemp("mimic3-demo")
    return prepare_cohort("mimic3", root, out / "cohort", progress=False)[1], out / "meds"


def test_mimic3_demo_round_trip_and_aces(demo) -> None:
    cohort_dir, meds_dir = demo
    original = Cohort.load(cohort_dir, tables=ALL_TABLES)
    back = round_trip(cohort_dir, meds_dir)
    check_same(original, back)
    assert back.quality.total() == 0
    ours, theirs = realm_labels(meds_dir), aces_labels(meds_dir)
    both = ours.merge(theirs, on=["subject_id", "prediction_time"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all()
    assert (both["boolean_value"].astype(int) == both["label"].astype(int)).all()
    assert ours["boolean_value"].sum() > 0
