"""realm.pipeline.train: fit a configured model, restore its best checkpoint, predict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from realm.config import merge_configs
from realm.pipeline.train import fit, predict
from tests.models.test_cli_configs import _tiny_cohort


def test_merge_configs_merges_mappings_and_replaces_lists() -> None:
    merged = merge_configs([{"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "d": None}])
    assert merged == {"a": {"b": 1, "c": [3]}, "d": None}


@pytest.mark.slow
def test_fit_restores_the_best_checkpoint_and_predicts_the_test_split(tmp_path: Path) -> None:
    cohort = _tiny_cohort(tmp_path / "cohort")
    overrides = {"data.init_args.cohort_dir": str(cohort), "trainer.max_epochs": 2, "trainer.logger": False,
                 "trainer.enable_progress_bar": False, "checkpoint.dirpath": str(tmp_path / "ckpt"),
                 "trainer.default_root_dir": str(tmp_path)}
    trained = fit(["synthetic.yaml"], overrides)
    assert trained.epochs == 2 and trained.checkpoint is not None
    assert trained.checkpoint.parent == tmp_path / "ckpt"  # a string override stays a path
    best = torch.load(trained.checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    assert all(torch.equal(v, best[k]) for k, v in trained.model.state_dict().items())
    probs = predict(trained.model, trained.datamodule.test_dataloader())
    stays = pd.read_parquet(cohort / "stays.parquet")
    assert sorted(probs.index) == sorted(stays.loc[stays["split"] == "test", "stay_id"])
    assert list(probs.columns) == ["mortality", "readmission_30d"] and probs.stack().between(0, 1).all()
    # the same seed and settings on the same prepared data train the same model
    again = fit(["synthetic.yaml"], {**overrides, "checkpoint.dirpath": str(tmp_path / "again")},
                datamodule=trained.datamodule)
    pd.testing.assert_frame_equal(predict(again.model, trained.datamodule.test_dataloader()), probs)
