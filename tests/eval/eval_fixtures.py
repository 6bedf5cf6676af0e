"""Tiny cohort folders and predictions tables in the real on-disk formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from realm.eval.predictions import predictions_frame


def tiny_cohort(folder: Path, n: int = 80, seed: int = 0) -> Path:
    """stays.parquet + labels.parquet + meta.json of ``n`` stays; every third subject has two
    stays; no ICU admission times (as PhysioNet 2012)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    stay_id = np.arange(1000, 1000 + n, dtype="int64")
    subject = np.array([10 + i - (i % 3 == 1) for i in range(n)], dtype="int64")
    stays = pd.DataFrame({
        "stay_id": stay_id, "subject_id": subject, "age": rng.uniform(20, 90, n),
        "sex": rng.choice(["F", "M"], n), "icu_type": rng.choice(["MICU", "SICU"], n),
        "ethnicity": "WHITE", "insurance": rng.choice(["Medicare", "Private"], n),
        "split": "test", "source": "synthetic",
    })
    mortality = pd.array((rng.uniform(size=n) < 0.3).astype(int), dtype="Int8")
    mortality[:3] = pd.NA  # undefined labels are carried, then left out of metrics
    labels = pd.DataFrame({"stay_id": stay_id, "mortality": mortality,
                           "readmission_30d": pd.array(rng.integers(0, 2, n), dtype="Int8")})
    stays.to_parquet(folder / "stays.parquet", index=False)
    labels.to_parquet(folder / "labels.parquet", index=False)
    (folder / "meta.json").write_text(json.dumps({"source": "synthetic", "window_hours": 48.0}))
    return folder


def tiny_predictions(cohort: Path, model: str, noise: float, seed: int) -> pd.DataFrame:
    """Probabilities that track the label with some noise, for both tasks."""
    rng = np.random.default_rng(seed)
    labels = pd.read_parquet(cohort / "labels.parquet")
    probs = {}
    for task in ("mortality", "readmission_30d"):
        y = labels[task].astype("Float64").fillna(0.5).to_numpy(dtype=float)
        probs[task] = np.clip(0.25 + 0.4 * y + rng.normal(0, noise, len(y)), 0.01, 0.99)
    return predictions_frame(labels["stay_id"].to_numpy(), probs, cohort, model)
