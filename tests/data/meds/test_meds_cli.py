"""`realm data export-meds` and `realm data prepare --source meds` through the real command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from realm.cli import main


def test_export_then_prepare_from_meds(tmp_path: Path) -> None:
    raw, cohort, meds, back = (tmp_path / n for n in ("raw", "cohort", "meds", "back"))
    assert main(["data", "synth", "--out", str(raw), "--n-stays", "40", "--seed", "1"]) == 0
    assert main(["data", "prepare", "--source", "synthetic", "--root", str(raw), "--out", str(cohort),
                 "--no-progress"]) == 0
    assert main(["data", "export-meds", "--cohort", str(cohort), "--out", str(meds)]) == 0
    assert (meds / "metadata" / "codes.parquet").is_file()
    assert main(["data", "prepare", "--source", "meds", "--root", str(meds), "--out", str(back),
                 "--no-progress"]) == 0
    before = pd.read_parquet(cohort / "stays.parquet").set_index("stay_id").sort_index()
    after = pd.read_parquet(back / "stays.parquet").set_index("stay_id").sort_index()
    assert list(after.index) == list(before.index)
    assert (after["split"].astype(str) == before["split"].astype(str)).all()  # the dataset's own splits
    labels_before = pd.read_parquet(cohort / "labels.parquet").set_index("stay_id").sort_index()
    labels_after = pd.read_parquet(back / "labels.parquet").set_index("stay_id").sort_index()
    pd.testing.assert_series_equal(labels_after["mortality"], labels_before["mortality"],
                                   check_dtype=False)


def test_meds_options_are_refused_for_other_sources(tmp_path: Path) -> None:
    assert main(["data", "synth", "--out", str(tmp_path / "raw"), "--n-stays", "20"]) == 0
    mapping = tmp_path / "m.yaml"
    mapping.write_text("{}\n")
    assert main(["data", "prepare", "--source", "synthetic", "--root", str(tmp_path / "raw"),
                 "--mapping", str(mapping), "--no-progress"]) == 1
