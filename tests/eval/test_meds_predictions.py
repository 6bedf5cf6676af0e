"""Predictions in the MEDS prediction schema: written by ``realm predict``, scored by
``meds-evaluation`` as ``realm evaluate`` scores them, and read back by ``realm evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
import pytorch_lightning
import torch
from torch.utils.data import DataLoader

from realm.cli import main
from realm.data.meds.export import ANCHOR
from realm.errors import DataError
from realm.eval.meds_predictions import (is_meds_predictions, read_meds_predictions,
                                         write_meds_predictions)
from realm.eval.prediction_writer import PredictionWriter
from realm.eval.predictions import write_predictions
from realm.eval.run import run_evaluate

from tests.eval.eval_fixtures import tiny_cohort, tiny_predictions
from tests.eval.test_predictions import _Tiny

meds_eval = pytest.importorskip("meds_evaluation.evaluate")
from meds_evaluation.schema import PredictionSchema  # noqa: E402


def _metrics(record: dict, task: str, model: str) -> dict[str, float]:
    m = record["tasks"][task]["models"][model]["metrics"]
    return {"auroc": m["auroc"]["value"], "auprc": m["auprc"]["value"]}


def test_predict_writes_valid_meds_files_at_the_cut(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=10)
    loader = DataLoader([{"stay_id": s, "x": v} for s, v in
                         zip(torch.arange(1000, 1010), torch.linspace(-2, 2, 10))], batch_size=4)
    writer = PredictionWriter(output_path=str(tmp_path / "out" / "predictions.parquet"),
                              cohort_dir=str(cohort))
    trainer = pytorch_lightning.Trainer(accelerator="cpu", logger=False, callbacks=[writer],
                                        enable_progress_bar=False, enable_model_summary=False)
    trainer.predict(_Tiny(), dataloaders=loader, return_predictions=False)
    folder = tmp_path / "out" / "meds_predictions" / "_Tiny"
    assert writer.written_meds == [folder / "mortality.parquet", folder / "readmission_30d.parquet"]
    realm = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    stays = pd.read_parquet(cohort / "stays.parquet")
    for path in writer.written_meds:
        table = pq.read_table(path)
        PredictionSchema.validate(table)  # the schema of meds-evaluation, nulls included
        frame = table.to_pandas()
        mine = realm[(realm["task"] == path.stem) & realm["y_true"].notna()]
        assert len(frame) == len(mine)  # undefined labels have no row
        assert frame["boolean_value"].sum() == mine["y_true"].sum()
        assert frame["predicted_boolean_value"].tolist() == \
            (frame["predicted_boolean_probability"] >= 0.5).tolist()
    # No ICU admission times: the export's anchor, a subject's second stay a year later.
    times = pq.read_table(folder / "readmission_30d.parquet").to_pandas()
    twice = stays["subject_id"].value_counts().index[0]
    expected = [ANCHOR + pd.Timedelta(hours=48), ANCHOR + pd.Timedelta(days=365, hours=48)]
    assert times.loc[times["subject_id"] == twice, "prediction_time"].tolist() == expected


def test_prediction_time_is_icu_admission_plus_window(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=6)
    stays = pd.read_parquet(cohort / "stays.parquet")
    stays["intime"] = pd.Timestamp("2150-03-01 10:30") + pd.to_timedelta(stays.index * 7, unit="D")
    stays.to_parquet(cohort / "stays.parquet", index=False)
    frame = tiny_predictions(cohort, "m", 0.1, 0)
    path, _ = write_meds_predictions(frame, cohort, tmp_path / "meds")
    got = pq.read_table(path).to_pandas()
    labelled = pd.read_parquet(cohort / "labels.parquet").dropna(subset=["mortality"])
    want = stays[stays["stay_id"].isin(labelled["stay_id"])]["intime"] + pd.Timedelta(hours=48)
    assert sorted(got["prediction_time"]) == sorted(want)


def test_meds_evaluation_agrees_with_realm_evaluate(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=400, seed=3)
    frame = tiny_predictions(cohort, "GRU", noise=0.3, seed=1)
    realm_file = write_predictions(frame, tmp_path / "predictions.parquet")
    meds_files = write_meds_predictions(frame, cohort, tmp_path / "meds")
    ours = run_evaluate(realm_file, tmp_path / "eval", n_resamples=20)
    for path in meds_files:
        theirs = meds_eval.evaluate_binary_classification(pl.read_parquet(path))
        theirs = theirs["samples_equally_weighted"]
        from_meds = run_evaluate(path, tmp_path / f"eval-{path.stem}", n_resamples=20)
        for record in (ours, from_meds):
            mine = _metrics(record, path.stem, "GRU")
            # Both AUPRCs are average precision (sklearn's step-wise sum), not a trapezoid.
            assert round(mine["auroc"], 3) == round(theirs["roc_auc_score"], 3)
            assert round(mine["auprc"], 3) == round(theirs["average_precision_score"], 3)


def test_evaluate_cli_pairs_meds_files_of_two_models(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=200)
    a = write_meds_predictions(tiny_predictions(cohort, "realm", 0.2, 0), cohort, tmp_path / "p")
    b = write_meds_predictions(tiny_predictions(cohort, "meds_tab", 0.4, 1), cohort, tmp_path / "p")
    assert all(is_meds_predictions(p) for p in a + b)
    assert main(["evaluate", "--predictions", str(a[0]), "--baselines", str(b[0]),
                 "--out", str(tmp_path / "eval"), "--n-resamples", "20"]) == 0
    record = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    entry = record["tasks"]["mortality"]
    assert set(entry["models"]) == {"realm", "meds_tab"}
    n = pq.read_metadata(a[0]).num_rows
    assert entry["models"]["realm"]["n"] == n and entry["comparisons"]["meds_tab"]["n"] == n


def test_realm_table_is_not_taken_for_meds(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=5)
    path = write_predictions(tiny_predictions(cohort, "m", 0.1, 0), tmp_path / "p.parquet")
    assert not is_meds_predictions(path)


def _meds_file(tmp_path: Path) -> Path:
    cohort = tiny_cohort(tmp_path / "c", n=30)
    return write_meds_predictions(tiny_predictions(cohort, "m", 0.1, 0), cohort, tmp_path / "p")[0]


@pytest.mark.parametrize("change, field", [
    (lambda f: f.drop(columns="predicted_boolean_probability"), "predicted_boolean_probability"),
    (lambda f: f.assign(predicted_boolean_probability=np.where(
        np.arange(len(f)) == 2, np.nan, f["predicted_boolean_probability"])), "predicted_boolean_probability"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "prediction_time"),
    (lambda f: f.drop(columns="prediction_time"), "prediction_time"),
    (lambda f: f.assign(subject_id=f["subject_id"].astype(str)), "subject_id"),
])
def test_bad_meds_files_name_the_field(tmp_path: Path, change, field: str) -> None:
    path = _meds_file(tmp_path)
    bad = tmp_path / "bad" / "m" / "mortality.parquet"
    bad.parent.mkdir(parents=True)
    change(pd.read_parquet(path)).to_parquet(bad, index=False)
    with pytest.raises(DataError, match=field):
        read_meds_predictions(bad)
