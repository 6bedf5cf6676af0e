"""The summary modality: per-variable statistics of the 48 h window, as the GBM sees them.

:class:`SummaryProvider` computes, for every variable of ``realm/resources/variables.csv``,
the statistics of :func:`realm.models.features.summary_features` (min, max, mean, last,
count of the raw measurements, not of the hourly bins) and adds to each batch::

    summary_values (B, V, S)   rank-Gauss transformed statistics, 0 where unmeasured
    summary_present (B, V)     1.0 where the variable was measured at least once

The recurrent encoder sees the same data one hour at a time and has to learn these
order-free extremes itself; tree models on them are strong on PhysioNet 2012, so the network
gets them directly. Each statistic is mapped through its empirical CDF on the *train split*
stays (``n_quantiles`` quantiles, linear in between) and then through the standard normal
quantile function: robust to outliers and heavy tails, bounded (about +-2.6 with 101
quantiles), and fitted on no validation or test stay. Counts go through ``log1p`` first.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtri
from torch import Tensor

from realm.data.dataset import ModalityProvider
from realm.errors import ConfigError, DataError
from realm.models.features import STATS, summary_features
from realm.resources import load_variables

__all__ = ["SummaryProvider", "summary_shape", "rank_gauss"]

log = logging.getLogger(__name__)


def summary_shape() -> tuple[int, int]:
    """(V, S): the variables of ``variables.csv`` and the statistics per variable. Fixed by
    the packaged resources, so a model can size itself without seeing the data."""
    return len(load_variables()), len(STATS)


def rank_gauss(train: np.ndarray, x: np.ndarray, n_quantiles: int = 101) -> np.ndarray:
    """Map each column of ``x`` through the empirical CDF of the same column of ``train``
    (NaN ignored), then the normal quantile function; NaN stays NaN. A column with no
    finite train value maps to 0."""
    out = np.full(x.shape, np.nan, dtype=np.float64)
    levels = np.linspace(0.0, 1.0, n_quantiles)
    # keep the CDF off 0 and 1 so the normal quantile stays finite
    edge = 0.5 / n_quantiles
    for j in range(x.shape[1]):
        seen = train[:, j][np.isfinite(train[:, j])]
        col = x[:, j]
        ok = np.isfinite(col)
        if seen.size == 0:
            out[ok, j] = 0.0
            continue
        q = np.quantile(seen, levels)
        # ties (counts, rounded labs): average the CDF over the tied quantiles
        lo = np.interp(col[ok], q, levels, left=0.0, right=1.0)
        hi = -np.interp(-col[ok], -q[::-1], -levels[::-1], left=-1.0, right=0.0)
        out[ok, j] = ndtri(np.clip((lo + hi) / 2, edge, 1 - edge))
    return out


class SummaryProvider(ModalityProvider):
    """Per-variable summary statistics of every stay (see the module docstring).

    Args:
        window_hours: prediction time; measurements after it are never used.
        n_quantiles: quantiles of the train-split CDF each statistic is mapped through.
    """

    name = "summary"

    def __init__(self, window_hours: float = 48.0, n_quantiles: int = 101) -> None:
        if n_quantiles < 3:
            raise ConfigError(f"SummaryProvider n_quantiles must be at least 3, got {n_quantiles}")
        self.window_hours, self.n_quantiles = window_hours, n_quantiles
        self._row: dict[int, int] = {}
        self._values = torch.zeros(0, *summary_shape())
        self._present = torch.zeros(0, summary_shape()[0])

    def setup(self, cohort_dir: Path, stay_ids: np.ndarray) -> None:
        if self._row:
            return
        from realm.data.cohort import Cohort

        cohort = Cohort.load(Path(cohort_dir), tables=("events",))
        stays = cohort.stays.drop_duplicates("stay_id").set_index("stay_id", drop=False)
        unknown = [int(s) for s in stay_ids if int(s) not in stays.index]
        if unknown:
            raise DataError(f"stays {unknown[:5]} are not in the stays table", path=Path(cohort_dir) / "stays.parquet")
        stays = stays.loc[[int(s) for s in stay_ids]].reset_index(drop=True)
        names = list(load_variables())
        wide = summary_features(cohort.events, stays, window_hours=self.window_hours,
                                variables=names, stats=STATS, include_static=False)
        raw = wide[[f"{v}__{s}" for v in names for s in STATS]].to_numpy(dtype=np.float64)
        counts = raw.reshape(len(stays), len(names), len(STATS))[:, :, STATS.index("count")]
        present = counts > 0
        raw = raw.reshape(len(stays), len(names), len(STATS))
        raw[:, :, STATS.index("count")] = np.where(present, np.log1p(counts), np.nan)
        raw = raw.reshape(len(stays), -1)
        train = stays["split"].astype("string").eq("train").fillna(False).to_numpy(dtype=bool)
        if not train.any():
            raise DataError("no train-split stays to fit the summary transform on",
                            path=Path(cohort_dir) / "stays.parquet", field="split")
        mapped = rank_gauss(raw[train], raw, self.n_quantiles)
        values = np.nan_to_num(mapped, nan=0.0).reshape(len(stays), len(names), len(STATS))
        self._values = torch.from_numpy(values.astype(np.float32))  # (N, V, S)
        self._present = torch.from_numpy(present.astype(np.float32))  # (N, V)
        self._row = {int(s): i for i, s in enumerate(stays["stay_id"])}
        log.info("summary: %d stays, %d variables measured in train", len(stays), int(present[train].any(0).sum()))

    def get(self, stay_ids: list[int]) -> dict[str, Tensor]:
        try:
            rows = torch.tensor([self._row[int(s)] for s in stay_ids], dtype=torch.long)
        except KeyError as exc:
            raise DataError(f"stay {exc.args[0]} was not set up (call setup first)", field="stay_id") from None
        return {"values": self._values[rows], "present": self._present[rows]}  # (B, V, S), (B, V)
