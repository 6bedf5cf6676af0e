"""Auxiliary training targets: numeric stay columns a model learns to predict beside its tasks.

Scores clinicians compute for a stay (PhysioNet 2012's SAPS-I and SOFA) and its length of
stay carry graded severity that a binary outcome does not: with a few hundred deaths,
asking the shared representation to also predict them is extra supervision (multitask
learning as a regularizer). They are *targets only*: :class:`AuxTargetProvider` hands them to
the batch as ``aux_values`` (B, A), RealmModel's loss reads them in training steps only, and
its forward pass never does. Stays of the test split get NaN, so their values are never
loaded at all. Each column is z-scored with train-split statistics (``log1p`` first for
``log_columns``, e.g. a length of stay in hours); a missing value is NaN and masked out of
the loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from realm.data.dataset import ModalityProvider
from realm.errors import ConfigError, DataError

__all__ = ["AuxTargetProvider"]


class AuxTargetProvider(ModalityProvider):
    """Numeric ``stays.parquet`` columns as auxiliary targets (see the module docstring).

    Args:
        columns: stays columns to predict, e.g. ``["saps1", "sofa", "los_hours"]``.
        log_columns: those of ``columns`` read as ``log1p(value)`` (non-negative, skewed).
    """

    name = "aux"

    def __init__(self, columns: list[str], log_columns: list[str] | None = None) -> None:
        if not columns:
            raise ConfigError("AuxTargetProvider needs at least one column")
        unknown = sorted(set(log_columns or []) - set(columns))
        if unknown:
            raise ConfigError(f"log_columns {unknown} are not among columns {columns}")
        self.columns, self.log_columns = list(columns), list(log_columns or [])
        self._values = np.empty((0, len(self.columns)), dtype=np.float32)
        self._row: dict[int, int] = {}

    @property
    def n_targets(self) -> int:
        """A, the width of ``aux_values`` (linked into ``RealmModel.n_aux_targets``)."""
        return len(self.columns)

    def setup(self, cohort_dir: Path, stay_ids: np.ndarray) -> None:
        if self._row:
            return
        path = Path(cohort_dir) / "stays.parquet"
        stays = pd.read_parquet(path).drop_duplicates("stay_id").set_index("stay_id")
        missing = [c for c in self.columns if c not in stays.columns]
        if missing:
            raise DataError(f"no column for auxiliary targets {missing}", path=path)
        ids = [int(s) for s in stay_ids]
        unknown = [s for s in ids if s not in stays.index]
        if unknown:
            raise DataError(f"stays {unknown[:5]} are not in the stays table", path=path)
        stays = stays.loc[ids]
        raw = stays[self.columns].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        for j, column in enumerate(self.columns):
            if column in self.log_columns:
                if (raw[:, j] < 0).any():
                    raise DataError(f"negative values in log column {column!r}", path=path, field=column)
                raw[:, j] = np.log1p(raw[:, j])
        split = stays["split"].astype("string").fillna("").to_numpy(dtype=object)
        raw[split == "test"] = np.nan  # a test stay's outcome scores are never loaded
        train = raw[split == "train"]
        if not np.isfinite(train).any(axis=0).all():
            empty = [c for c, ok in zip(self.columns, np.isfinite(train).any(axis=0)) if not ok]
            raise DataError(f"auxiliary targets {empty} have no train-split value", path=path, field="split")
        mean, std = np.nanmean(train, axis=0), np.nanstd(train, axis=0)
        self._values = ((raw - mean) / np.where(std > 1e-12, std, 1.0)).astype(np.float32)
        self._row = {s: i for i, s in enumerate(ids)}

    def get(self, stay_ids: list[int]) -> dict[str, Tensor]:
        rows = [self._row[int(s)] for s in stay_ids]
        return {"values": torch.from_numpy(self._values[rows])}  # (B, A), NaN = no target
