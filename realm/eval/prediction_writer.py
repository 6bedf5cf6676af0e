"""The Lightning callback that writes a predict run's ``predictions.parquet`` (and the MEDS
prediction files beside it).

Apart from :mod:`realm.eval.predictions` (the table itself) so that reading, writing and scoring
prediction tables, as ``realm evaluate`` and the demo's report do, never imports Lightning.
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

from realm.errors import ConfigError, DataError
from realm.eval.predictions import PREDICTIONS_FILE, predictions_frame, write_predictions

__all__ = ["PredictionWriter"]

log = logging.getLogger(__name__)


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
        try:
            # Imported here: the MEDS modules need the optional `meds` extra (polars,
            # meds-evaluation), and training and predicting work without it.
            from realm.eval.meds_predictions import MEDS_PREDICTIONS_DIR, write_meds_predictions
        except ImportError as exc:
            log.warning("no MEDS prediction files: %s is not installed (pip install 'realm[meds]')",
                        exc.name)
            return
        folder = run_dir / MEDS_PREDICTIONS_DIR
        try:
            self.written_meds = write_meds_predictions(frame, cohort_dir, folder)
        except ConfigError as exc:  # the optional extra is missing: realm's own file suffices
            log.warning("no MEDS prediction files: %s", exc)
            return
        log.info("wrote MEDS predictions to %s", folder)
