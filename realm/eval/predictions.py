"""The predictions table (``predictions.parquet``): what a model said about each stay.

One row per (model, task, stay); every model writes the same long format, so a trained
network, a tabular baseline and the synthetic oracle are compared by the same code::

    stay_id* int64, subject_id* int64, task* str, y_true Int8 (NA: label undefined),
    y_prob* float64, model* str, then the stay's subgroup columns
    (age float64, sex, icu_type, ethnicity, insurance: str)

``subject_id`` travels with every row because intervals resample patients, not stays.

:class:`PredictionWriter` is a Lightning callback: ``realm predict`` (or
``Trainer.predict``) with it writes the table next to the run; :func:`predictions_frame`
builds the same table from plain arrays (baselines, the oracle); :func:`read_predictions`
validates a file and says which row or field is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter

from realm.cache import atomic_path
from realm.errors import ConfigError, DataError

__all__ = [
    "PREDICTION_COLUMNS",
    "SUBGROUP_COLUMNS",
    "PredictionWriter",
    "predictions_frame",
    "write_predictions",
    "read_predictions",
]

log = logging.getLogger(__name__)

PREDICTION_COLUMNS: dict[str, str] = {
    "stay_id": "int64",
    "subject_id": "int64",
    "task": "string",
    "y_true": "Int8",
    "y_prob": "float64",
    "model": "string",
}
SUBGROUP_COLUMNS: dict[str, str] = {
    "age": "float64",
    "sex": "string",
    "icu_type": "string",
    "ethnicity": "string",
    "insurance": "string",
}
PREDICTIONS_FILE = "predictions.parquet"


def predictions_frame(stay_ids: Sequence[int] | np.ndarray, probs: Mapping[str, object],
                      cohort_dir: str | Path, model: str) -> pd.DataFrame:
    """The long predictions table for ``stay_ids`` and ``{task: probabilities}``.

    Labels, subjects and subgroup columns come from the cohort folder's ``stays`` and
    ``labels`` tables; a stay missing from ``stays`` is a :class:`DataError`.
    """
    cohort_dir = Path(cohort_dir)
    ids = np.asarray(stay_ids, dtype="int64")
    if len(np.unique(ids)) != len(ids):
        raise DataError("a stay is predicted twice", field="stay_id")
    stays = pd.read_parquet(cohort_dir / "stays.parquet")
    labels = pd.read_parquet(cohort_dir / "labels.parquet")
    keep = ["stay_id", "subject_id", *[c for c in SUBGROUP_COLUMNS if c in stays.columns]]
    base = pd.DataFrame({"stay_id": ids}).merge(stays[keep], on="stay_id", how="left")
    if base["subject_id"].isna().any():
        missing = base.loc[base["subject_id"].isna(), "stay_id"].iloc[0]
        raise DataError(f"stay {missing} is not in the cohort", path=cohort_dir / "stays.parquet",
                        field="stay_id")
    parts = []
    for task, values in probs.items():
        p = np.asarray(values, dtype="float64").reshape(-1)
        if len(p) != len(ids):
            raise DataError(f"{len(p)} probabilities for {len(ids)} stays", field=f"y_prob[{task}]")
        if task not in labels.columns:
            raise DataError("no label column for this task", path=cohort_dir / "labels.parquet",
                            field=task)
        part = base.merge(labels[["stay_id", task]].rename(columns={task: "y_true"}),
                          on="stay_id", how="left")
        part["task"], part["y_prob"], part["model"] = task, p, model
        parts.append(part)
    if not parts:
        raise DataError("no task probabilities given", field="probs")
    return conform_predictions(pd.concat(parts, ignore_index=True))


def conform_predictions(frame: pd.DataFrame, path: Path | None = None) -> pd.DataFrame:
    """The table in its column order and dtypes; checks what every reader relies on."""
    for col in PREDICTION_COLUMNS:
        if col not in frame.columns:
            raise DataError("predictions lack a required column", path=path, field=col)
    out = frame.copy()
    for col, dtype in {**PREDICTION_COLUMNS, **SUBGROUP_COLUMNS}.items():
        if col not in out.columns:
            out[col] = pd.Series(None, index=out.index, dtype=dtype)
        try:
            out[col] = out[col].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise DataError(f"cannot cast to {dtype} ({exc})", path=path, field=col) from exc
    p = out["y_prob"].to_numpy()
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        raise DataError("probability is not a finite value in [0, 1]", path=path,
                        row=int(np.flatnonzero(bad)[0]), field="y_prob")
    if not out["y_true"].dropna().isin([0, 1]).all():
        raise DataError("labels must be 0, 1 or NA", path=path, field="y_true")
    dup = out.duplicated(["model", "task", "stay_id"])
    if dup.any():
        raise DataError("a (model, task, stay) appears twice", path=path,
                        row=int(np.flatnonzero(dup)[0]), field="stay_id")
    columns = [*PREDICTION_COLUMNS, *SUBGROUP_COLUMNS]
    return out[columns + [c for c in out.columns if c not in columns]].reset_index(drop=True)


def write_predictions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Validate and write the table atomically; returns the path."""
    path = Path(path)
    table = conform_predictions(frame, path)
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    return path


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read and validate a predictions file (:class:`DataError` names file, row, field)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("predictions file not found", path=path)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"not a Parquet file ({exc})", path=path) from exc
    return conform_predictions(frame, path)


class PredictionWriter(BasePredictionWriter):
    """Write ``predictions.parquet`` at the end of ``Trainer.predict``, and beside it the
    same predictions in the MEDS prediction schema (``meds_predictions/<model>/<task>.parquet``,
    see :mod:`realm.eval.meds_predictions`) when the ``meds`` extra is installed.

    Works with any :class:`~realm.models.module.RealmTask` (its ``predict_step`` returns
    ``stay_id`` and one probability per task) and a DataModule with ``cohort_dir``.

    Args:
        output_path: file to write; default ``<trainer.log_dir>/predictions.parquet``.
        model_name: the ``model`` column; default the LightningModule's class name.
        cohort_dir: cohort folder for labels and subgroups; default the DataModule's.
        meds: also write the MEDS prediction files.
    """

    def __init__(self, output_path: str | None = None, model_name: str | None = None,
                 cohort_dir: str | None = None, meds: bool = True) -> None:
        # "batch": rows are collected here instead of relying on Lightning keeping every
        # batch's output in memory (return_predictions may be off).
        super().__init__(write_interval="batch")
        self.output_path, self.model_name, self.cohort_dir = output_path, model_name, cohort_dir
        self.meds = meds
        self._rows: list[dict[str, np.ndarray]] = []
        self.written: Path | None = None
        self.written_meds: list[Path] = []

    def on_predict_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._rows = []

    def write_on_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           prediction: Any, batch_indices: Sequence[int] | None, batch: Any,
                           batch_idx: int, dataloader_idx: int) -> None:
        if not isinstance(prediction, Mapping) or "stay_id" not in prediction:
            raise DataError(f"{type(pl_module).__name__}.predict_step must return a dict with "
                            "'stay_id' and one probability per task", field="predict_step")
        self._rows.append({k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor)
                           else np.asarray(v) for k, v in prediction.items()})

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._rows:
            log.warning("no predictions to write (empty predict loader)")
            return
        columns = {k: np.concatenate([r[k] for r in self._rows]) for k in self._rows[0]}
        stay_ids = columns.pop("stay_id")
        cohort_dir = self.cohort_dir or getattr(trainer.datamodule, "cohort_dir", None)
        if cohort_dir is None:
            raise DataError("PredictionWriter needs cohort_dir (none given, and the "
                            "DataModule has none)", field="cohort_dir")
        name = self.model_name or type(pl_module).__name__
        frame = predictions_frame(stay_ids, columns, cohort_dir, name)
        target = Path(self.output_path) if self.output_path else \
            Path(trainer.log_dir or trainer.default_root_dir) / PREDICTIONS_FILE
        self.written = write_predictions(frame, target)
        log.info("wrote %d predictions of %s to %s", len(frame), name, target)
        if self.meds:
            self._write_meds(frame, Path(cohort_dir), target.parent)

    def _write_meds(self, frame: pd.DataFrame, cohort_dir: Path, run_dir: Path) -> None:
        # Imported here: that module builds on this one's table checks.
        from realm.eval.meds_predictions import MEDS_PREDICTIONS_DIR, write_meds_predictions

        folder = run_dir / MEDS_PREDICTIONS_DIR
        try:
            self.written_meds = write_meds_predictions(frame, cohort_dir, folder)
        except ConfigError as exc:  # the optional extra is missing: realm's own file suffices
            log.warning("no MEDS prediction files: %s", exc)
            return
        log.info("wrote MEDS predictions to %s", folder)
