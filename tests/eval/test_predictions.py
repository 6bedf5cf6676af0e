"""The predictions table: building, validation, file round trip, the Lightning writer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from realm.errors import DataError
from realm.eval.prediction_writer import PredictionWriter
from realm.eval.predictions import PREDICTION_COLUMNS, predictions_frame, read_predictions, write_predictions

from tests.eval.eval_fixtures import tiny_cohort


def test_frame_joins_labels_subjects_and_subgroups(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=12)
    frame = predictions_frame([1005, 1001], {"mortality": [0.9, 0.2]}, cohort, "m")
    stays = pd.read_parquet(cohort / "stays.parquet").set_index("stay_id")
    labels = pd.read_parquet(cohort / "labels.parquet").set_index("stay_id")
    assert list(frame.columns[:6]) == list(PREDICTION_COLUMNS)
    assert frame["stay_id"].tolist() == [1005, 1001]
    assert frame["subject_id"].tolist() == stays.loc[[1005, 1001], "subject_id"].tolist()
    assert frame["sex"].tolist() == stays.loc[[1005, 1001], "sex"].tolist()
    assert frame["y_true"].tolist() == labels.loc[[1005, 1001], "mortality"].tolist()
    assert frame.loc[1, "y_true"] is pd.NA  # stay 1001 has an undefined label


def test_round_trip_keeps_values_and_dtypes(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=20)
    ids = np.arange(1000, 1020)
    frame = predictions_frame(ids, {"mortality": np.linspace(0, 1, 20),
                                    "readmission_30d": np.linspace(1, 0, 20)}, cohort, "GRU")
    back = read_predictions(write_predictions(frame, tmp_path / "p.parquet"))
    pd.testing.assert_frame_equal(back, frame)
    assert back["y_true"].dtype == "Int8" and len(back) == 40


@pytest.mark.parametrize("change, field", [
    (lambda f: f.assign(y_prob=f["y_prob"] + 2), "y_prob"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "stay_id"),
    (lambda f: f.drop(columns="subject_id"), "subject_id"),
])
def test_invalid_files_name_the_field(tmp_path: Path, change, field: str) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=5)
    frame = predictions_frame(np.arange(1000, 1005), {"mortality": [0.1] * 5}, cohort, "m")
    change(frame).to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(DataError, match=field):
        read_predictions(tmp_path / "bad.parquet")


def test_unknown_stay_is_refused(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=5)
    with pytest.raises(DataError, match="stay 77 is not in the cohort"):
        predictions_frame([77], {"mortality": [0.5]}, cohort, "m")


class _Tiny(pl.LightningModule):
    """predict_step as RealmTask's: stay ids and one probability per task."""

    tasks = ["mortality", "readmission_30d"]

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.5, -0.5]))

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        probs = torch.sigmoid(batch["x"][:, None] * self.w)  # (B, 2)
        return {"stay_id": batch["stay_id"], "mortality": probs[:, 0], "readmission_30d": probs[:, 1]}


def test_writer_round_trip_through_trainer_predict(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=10)
    ids = torch.arange(1000, 1010)
    x = torch.linspace(-2, 2, 10)
    loader = DataLoader([{"stay_id": s, "x": v} for s, v in zip(ids, x)], batch_size=4)
    writer = PredictionWriter(output_path=str(tmp_path / "out" / "predictions.parquet"),
                              cohort_dir=str(cohort))
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[writer],
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.predict(_Tiny(), dataloaders=loader, return_predictions=False)
    back = read_predictions(tmp_path / "out" / "predictions.parquet")
    assert len(back) == 20 and set(back["model"]) == {"_Tiny"}
    mort = back[back["task"] == "mortality"].set_index("stay_id")["y_prob"]
    expected = torch.sigmoid(x * 0.5).double().numpy()
    np.testing.assert_allclose(mort.loc[ids.numpy()].to_numpy(), expected, rtol=1e-6)


def test_writer_without_the_meds_extra_still_writes_its_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """A core install (no `meds` extra): predict writes predictions.parquet and says why no MEDS
    files came, instead of failing after the work is done."""
    monkeypatch.setitem(sys.modules, "realm.eval.meds_predictions", None)  # import -> ImportError
    cohort = tiny_cohort(tmp_path / "c", n=4)
    loader = DataLoader([{"stay_id": s, "x": v} for s, v in zip(torch.arange(1000, 1004), torch.zeros(4))],
                        batch_size=4)
    writer = PredictionWriter(output_path=str(tmp_path / "out" / "predictions.parquet"), cohort_dir=str(cohort))
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[writer],
                         enable_progress_bar=False, enable_model_summary=False)
    with caplog.at_level("WARNING"):
        trainer.predict(_Tiny(), dataloaders=loader, return_predictions=False)
    assert len(read_predictions(tmp_path / "out" / "predictions.parquet")) == 8
    assert writer.written_meds == [] and not (tmp_path / "out" / "meds_predictions").exists()
    assert "realm[meds]" in caplog.text
