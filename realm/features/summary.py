"""The summary modality: per-variable statistics of the 48 h window, as the GBM sees them.

:class:`SummaryProvider` computes, for every variable of ``realm/resources/variables.csv``,
the statistics of :func:`realm.features.tabular.summary_features` (min, max, mean, last,
count of the raw measurements, not of the hourly bins) and adds to each batch::

    summary_values (B, V, S)   rank-Gauss transformed statistics, 0 where unmeasured
    summary_present (B, V)     1.0 where the variable was measured at least once

The recurrent encoder sees the same data one hour at a time and has to learn these
order-free extremes itself; tree models on them are strong on PhysioNet 2012, so the network
gets them directly. Each statistic is mapped through its empirical CDF on the *train split*
stays (``n_quantiles`` quantiles, linear in between) and then through the standard normal
quantile function: robust to outliers and heavy tails, bounded (about +-2.6 with 101
quantiles), and fitted on no validation or test stay. Counts go through ``log1p`` first.

Factor scores (``n_factors > 0``): a label-free, low-rank view of the series. The provider
also computes each variable's least-squares slope over the window, maps it like the other
statistics, and fits ``sklearn.decomposition.FactorAnalysis(n_factors)`` on the *train
split* rows of the chosen statistics (``factor_stats``, default per-variable mean and slope;
variables measured in fewer than ``min_coverage`` of train stays are left out, a missing
statistic is imputed by its train mean, columns standardized on train). The scores of every
stay, standardized on train, are appended as ``n_factors`` pseudo-variables after the V real
ones: score in the first statistic column, 0 in the others, present flag 1, so
``summary_values`` becomes (B, V + n_factors, S) and realm.features.schema.summary_shape takes
``n_factors``.
Why: when one latent state (illness severity) moves many variables at once, the first factors
of their means and trends estimate it without any label, so a model with few positive labels
(a few hundred deaths) gets it as one denoised input instead of having to learn it from ~200
noisy statistics. No label and no validation or test stay is used in the fit. On the 3,000-stay
synthetic hospital one factor tracks the true severity (r = 0.97 on test), yet REALM's
validation AUROC with the wide summary did not move when the factors were added (see
BENCHMARKS.md), presumably because the wide linear term already reads the same means.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtri
from torch import Tensor

from realm.data.dataset import ModalityProvider
from realm.errors import ConfigError, DataError
from realm.features.schema import summary_shape
from realm.features.tabular import STATS, summary_features
from realm.resources import load_variables

__all__ = ["SummaryProvider", "rank_gauss", "fit_factors", "series_slopes", "FACTOR_STATS"]

log = logging.getLogger(__name__)


#: Statistics the factor analysis may read: the summary statistics and the per-variable slope.
FACTOR_STATS: tuple[str, ...] = (*STATS, "slope")


def _check_factors(n_factors: int) -> int:
    if isinstance(n_factors, bool) or not isinstance(n_factors, (int, np.integer)) or n_factors < 0:
        raise ConfigError(f"n_factors must be a non-negative integer, got {n_factors!r}")
    return int(n_factors)


def series_slopes(events: pd.DataFrame, stays: pd.DataFrame, variables: Sequence[str],
                  window_hours: float = 48.0, min_spread_hours: float = 1.0) -> np.ndarray:
    """(N, V) least-squares slope (value units per hour) of each variable over the window,
    ``cov(t, x) / var(t)`` of its raw measurements; NaN where the variable was not measured or
    its measurement times spread less than ``min_spread_hours`` (a variance of the times below
    ``min_spread_hours ** 2``). Same event filter as realm.features.tabular.summary_features."""
    names = list(variables)
    ids = pd.Index(stays["stay_id"].to_numpy())
    keep = (events["hours"].astype(float) <= window_hours) & events["variable"].isin(names)
    keep &= events["stay_id"].isin(ids) & events["value"].notna()
    ev = events.loc[keep, ["stay_id", "hours", "variable", "value"]]
    t, x = ev["hours"].to_numpy(dtype=np.float64), ev["value"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame({"stay_id": ev["stay_id"].to_numpy(), "variable": ev["variable"].astype(str).to_numpy(),
                          "t": t, "x": x, "tx": t * x, "tt": t * t})
    m = frame.groupby(["stay_id", "variable"], sort=False)[["t", "x", "tx", "tt"]].mean()
    var_t = m["tt"] - m["t"] ** 2
    slope = ((m["tx"] - m["t"] * m["x"]) / var_t.where(var_t >= min_spread_hours ** 2)).rename("slope")
    wide = slope.unstack("variable") if len(slope) else pd.DataFrame(index=pd.Index([], name="stay_id"))
    return wide.reindex(index=ids, columns=names).to_numpy(dtype=np.float64)


def fit_factors(x: np.ndarray, train: np.ndarray, n_factors: int, min_coverage: float = 0.1,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factor scores of every row of ``x`` (N, C; NaN = missing) from a FactorAnalysis fitted
    on the rows where ``train`` is True only (no labels).

    Columns finite in fewer than ``min_coverage`` of the train rows, or constant on them, are
    dropped; a missing value is imputed by its column's train mean; columns are standardized
    with the train mean and SD. Each factor's sign is fixed so that its largest loading is
    positive, and its scores are standardized to mean 0, SD 1 on train. Returns the scores
    (N, n_factors), the loadings (n_factors, kept columns) and the kept column indices.
    """
    from sklearn.decomposition import FactorAnalysis

    n_factors = _check_factors(n_factors)
    if n_factors == 0:
        raise ConfigError("fit_factors needs n_factors >= 1")
    train = np.asarray(train, dtype=bool)
    xt = x[train]
    coverage = np.isfinite(xt).mean(0) if len(xt) else np.zeros(x.shape[1])
    with np.errstate(all="ignore"):
        mean = np.nanmean(np.where(coverage > 0, xt, 0.0), axis=0)
        sd = np.nanstd(np.where(coverage > 0, xt, 0.0), axis=0)
    cols = np.flatnonzero((coverage >= min_coverage) & (coverage > 0) & (sd > 1e-12))
    if len(cols) < n_factors + 1 or train.sum() <= n_factors + 1:
        raise DataError(f"{len(cols)} usable summary columns and {int(train.sum())} train stays "
                        f"are too few for {n_factors} factors", field="n_factors")
    z = x[:, cols]
    z = np.where(np.isfinite(z), z, mean[cols])
    z = (z - mean[cols]) / sd[cols]
    fa = FactorAnalysis(n_factors, random_state=seed).fit(z[train])
    loadings = fa.components_.copy()  # (F, C')
    scores = fa.transform(z)  # (N, F)
    sign = np.sign(loadings[np.arange(n_factors), np.abs(loadings).argmax(1)])
    sign[sign == 0] = 1.0
    loadings, scores = loadings * sign[:, None], scores * sign
    mu, sigma = scores[train].mean(0), scores[train].std(0)
    scores = (scores - mu) / np.where(sigma > 1e-12, sigma, 1.0)
    return scores, loadings, cols


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
        n_factors: factor scores appended as pseudo-variables (0: none; linked into
            ``RealmModel.summary_factors`` by the CLI).
        factor_stats: the statistics (of :data:`FACTOR_STATS`) the factor analysis reads.
        min_coverage: a variable's statistic enters the factor analysis only if it is
            available for at least this fraction of the train stays.
        seed: ``random_state`` of the factor analysis.

    After :meth:`setup` with factors, ``factor_loadings`` is a DataFrame (factor x
    ``variable__stat``) of the fitted loadings.
    """

    name = "summary"

    def __init__(self, window_hours: float = 48.0, n_quantiles: int = 101, n_factors: int = 0,
                 factor_stats: Sequence[str] = ("mean", "slope"), min_coverage: float = 0.1,
                 seed: int = 0) -> None:
        if n_quantiles < 3:
            raise ConfigError(f"SummaryProvider n_quantiles must be at least 3, got {n_quantiles}")
        self.n_factors = _check_factors(n_factors)
        bad = [s for s in factor_stats if s not in FACTOR_STATS]
        if bad or not factor_stats:
            raise ConfigError(f"factor_stats: unknown or none {bad}; choose from {list(FACTOR_STATS)}")
        if not 0.0 <= min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must lie in [0, 1], got {min_coverage}")
        self.window_hours, self.n_quantiles = window_hours, n_quantiles
        self.factor_stats, self.min_coverage, self.seed = tuple(factor_stats), min_coverage, seed
        self.factor_loadings: pd.DataFrame | None = None
        self._row: dict[int, int] = {}
        shape = summary_shape(self.n_factors)
        self._values = torch.zeros(0, *shape)
        self._present = torch.zeros(0, shape[0])

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
        if self.n_factors:
            per_stat = {st: mapped.reshape(len(stays), len(names), len(STATS))[:, :, i]
                        for i, st in enumerate(STATS)}
            if "slope" in self.factor_stats:
                slopes = series_slopes(cohort.events, stays, names, self.window_hours)
                per_stat["slope"] = rank_gauss(slopes[train], slopes, self.n_quantiles)
            x = np.stack([per_stat[st] for st in self.factor_stats], axis=2).reshape(len(stays), -1)
            scores, loadings, cols = fit_factors(x, train, self.n_factors, self.min_coverage, self.seed)
            labels = [f"{v}__{st}" for v in names for st in self.factor_stats]
            self.factor_loadings = pd.DataFrame(loadings, columns=[labels[c] for c in cols],
                                                index=[f"factor{k + 1}" for k in range(self.n_factors)])
            extra = np.zeros((len(stays), self.n_factors, len(STATS)))
            extra[:, :, 0] = scores
            ones = np.ones((len(stays), self.n_factors), dtype=bool)
            values = np.concatenate([values, extra], axis=1)  # (N, V + F, S)
            present = np.concatenate([present, ones], axis=1)
            log.info("summary: %d factors over %d of %d statistics", self.n_factors, len(cols), x.shape[1])
        self._values = torch.from_numpy(values.astype(np.float32))  # (N, V, S)
        self._present = torch.from_numpy(present.astype(np.float32))  # (N, V)
        self._row = {int(s): i for i, s in enumerate(stays["stay_id"])}
        log.info("summary: %d stays, %d variables measured in train", len(stays), int((counts[train] > 0).any(0).sum()))

    def get(self, stay_ids: list[int]) -> dict[str, Tensor]:
        try:
            rows = torch.tensor([self._row[int(s)] for s in stay_ids], dtype=torch.long)
        except KeyError as exc:
            raise DataError(f"stay {exc.args[0]} was not set up (call setup first)", field="stay_id") from None
        return {"values": self._values[rows], "present": self._present[rows]}  # (B, V+F, S), (B, V+F)
