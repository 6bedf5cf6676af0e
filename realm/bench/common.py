"""What the model benchmarks share: train a LightningModule, score probabilities, print, save.

Training is deterministic per seed: early stopping on the validation loss, the best
checkpoint's weights score the test split. Scores are patient-level bootstrap intervals
(realm.eval.bootstrap, 1000 resamples by default).
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from realm.cache import atomic_path
from realm.data.datamodule import RealmDataModule
from realm.eval.bootstrap import bootstrap_ci, paired_bootstrap_diff
from realm.models.module import RealmTask

__all__ = ["TrainResult", "train_and_predict", "score", "compare", "peak_rss_mb", "print_table",
           "write_json"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Test-split probabilities, one column per task (indexed by stay id), and the cost."""

    probs: pd.DataFrame
    epochs: int
    seconds: float

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)


class _EpochCounter(pl.Callback):
    def __init__(self) -> None:
        self.epochs = 0

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epochs += 1


def train_and_predict(model: RealmTask, data: RealmDataModule, workdir: Path, *, max_epochs: int,
                      patience: int = 4, seed: int = 0, monitor: str = "val/loss",
                      mode: str = "min") -> TrainResult:
    """Fit ``model`` on the train split (early stopping and the kept checkpoint on ``monitor``,
    the validation loss by default), predict the test split with the best weights; returns
    P(task) per test stay for every task of the model."""
    pl.seed_everything(seed, workers=True)
    checkpoint = ModelCheckpoint(dirpath=workdir, monitor=monitor, mode=mode, save_top_k=1,
                                 filename="best")
    counter = _EpochCounter()
    trainer = pl.Trainer(
        max_epochs=max_epochs, accelerator="cpu", devices=1, deterministic=True, logger=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=workdir,
        callbacks=[EarlyStopping(monitor, mode=mode, patience=patience), checkpoint, counter],
        num_sanity_val_steps=0,
    )
    started = time.perf_counter()
    trainer.fit(model, datamodule=data)
    seconds = time.perf_counter() - started
    if checkpoint.best_model_path:
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["state_dict"])
    model.eval()
    parts = []
    with torch.no_grad():
        for batch in data.test_dataloader():
            out = model.predict_step(batch, 0)
            parts.append(pd.DataFrame({t: out[t].numpy() for t in model.tasks},
                                      index=out["stay_id"].numpy()))
    return TrainResult(pd.concat(parts), counter.epochs, seconds)


def score(y: np.ndarray, p: np.ndarray, groups: np.ndarray, *, n_resamples: int = 1000,
          seed: int = 0) -> dict[str, dict[str, Any]]:
    """AUROC, AUPRC, min(Se, +P), Brier, each ``{"value", "ci95"}`` (subject bootstrap)."""
    full = bootstrap_ci(y, p, groups, n_resamples=n_resamples, seed=seed)
    return {name: {"value": r["value"], "ci95": r["ci95"]} for name, r in full.items()}


def compare(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, groups: np.ndarray, *,
            n_resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Paired bootstrap of A - B on every metric (value, ci95, p_value)."""
    full = paired_bootstrap_diff(y, pa, pb, groups, n_resamples=n_resamples, seed=seed)
    return {name: {k: r[k] for k in ("value", "ci95", "p_value")} for name, r in full.items()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(models: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]] | None = None) -> None:
    """One row per model: each metric with its 95% interval, plus extra columns."""
    metrics = list(next(iter(models.values())).keys()) if models else []
    lines = [f"{'model':<12}" + "".join(f"{m:>24}" for m in metrics)]
    for name, result in models.items():
        cells = [f"{result[m]['value']:.3f} [{result[m]['ci95'][0]:.3f},{result[m]['ci95'][1]:.3f}]"
                 for m in metrics]
        lines.append(f"{name:<12}" + "".join(f"{c:>24}" for c in cells))
    for name, columns in (extra or {}).items():
        lines.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in columns.items()))
    sys.stdout.write("\n".join(lines) + "\n")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=float))
