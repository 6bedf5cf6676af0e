"""``realm bench synthetic-hospitals`` on handmade prediction files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from realm.bench.synthetic_hospitals import hospital_means
from realm.cli import main
from realm.errors import DataError

def _run(folder: Path, seed: int, noise: dict[str, float], n: int = 300) -> Path:
    """A bench workdir whose models are the true risk plus model-specific noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for task in ("mortality", "readmission_30d"):
        risk = rng.normal(size=n)
        label = (rng.random(n) < 1 / (1 + np.exp(-2 * risk))).astype(float)
        for model, sd in noise.items():
            prob = 1 / (1 + np.exp(-(risk + rng.normal(scale=sd, size=n))))
            for split in ("val", "test"):
                rows.append(pd.DataFrame({"model": model, "split": split, "stay_id": np.arange(n),
                                          "subject_id": np.arange(n) // 2, "task": task,
                                          "label": label, "prob": prob}))
    folder.mkdir(parents=True)
    pd.concat(rows).to_parquet(folder / "predictions.parquet")
    return folder


@pytest.mark.slow
def test_means_and_intervals(tmp_path: Path) -> None:
    noise = {"oracle": 0.0, "realm": 0.5, "timeseries": 2.0, "gbm": 1.0}
    runs = [_run(tmp_path / f"h{s}", s, noise) for s in range(3)]
    result = hospital_means(runs, n_resamples=200)
    for task in ("mortality", "readmission_30d"):
        gaps = []
        for run in runs:
            frame = pd.read_parquet(run / "predictions.parquet")
            test = frame[(frame.split == "test") & (frame.task == task)]
            auroc = {m: roc_auc_score(g.label, g.prob) for m, g in test.groupby("model")}
            gaps.append(auroc["oracle"] - auroc["realm"])
        r = result[task]["oracle_minus_realm"]
        assert np.allclose(r["per_hospital"], gaps, atol=1e-4) and r["mean"] == pytest.approx(np.mean(gaps))
        assert r["ci95"][0] < r["mean"] < r["ci95"][1]
        better = result[task]["realm_minus_timeseries"]
        assert better["ci95"][0] > 0  # far less noise than the time-series model: clearly above


def test_missing_model_is_named(tmp_path: Path) -> None:
    run = _run(tmp_path / "h0", 0, {"oracle": 0.0, "realm": 0.5})
    with pytest.raises(DataError, match="timeseries"):
        hospital_means([run], n_resamples=10)


def test_command_writes_the_means(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [_run(tmp_path / f"h{s}", s, {"oracle": 0.0, "realm": 0.5, "timeseries": 2.0}) for s in range(2)]
    out = tmp_path / "means.json"
    assert main(["bench", "synthetic-hospitals", *map(str, runs), "--n-resamples", "20", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["runs"] == [str(r) for r in runs]
    assert written["mortality"] == hospital_means(runs, n_resamples=20)["mortality"]
    assert "oracle_minus_realm" in capsys.readouterr().out
