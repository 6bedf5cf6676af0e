"""Discretize a cohort's long-form events into fixed-width bins: values, masks, deltas, statics.

Per stay and bin (T = window_hours / bin_hours bins, V variables, F features):

- ``values`` (T, F): the last in-bounds observation of each variable in the bin, forward
  filled, and the variable's normal value (``variables.csv``) before its first observation.
  Continuous variables are put on their ``variables.csv`` scale (``log``: log1p(value /
  normal) for right-skewed labs, so a tenfold ALT rise is a step of similar size wherever
  it starts and a few extreme values do not squash the normal range) and z-normalized with
  TRAIN-split statistics; categorical ones are one-hot over their categories.
- ``masks`` (T, V): 1 where the variable was observed in the bin.
- ``deltas`` (T, V): hours since the variable's last observation (0 in an observed bin),
  capped at ``window_hours`` (also the value before any observation).
- ``statics`` (S,): age, height, weight (normalized, train-mean imputed), missing flags,
  sex and ICU-type one-hot (ICU types seen in the train split).

Out-of-bounds, non-finite, unknown-variable and after-window events are dropped and counted
in the returned :class:`QualityReport`, never silently. Results are cached by content and
configuration (see :func:`discretize_dir`).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realm.cache import atomic_dir, config_hash, file_digest, stage_dir
from realm.data.cohort import Cohort
from realm.data.quality import QualityReport
from realm.errors import ConfigError, DataError
from realm.resources import Variable, load_variables

__all__ = ["DiscretizerConfig", "Tensors", "discretize", "discretize_dir", "cohort_identity"]

log = logging.getLogger(__name__)

#: Bump when the output layout or semantics change, so old caches are not reused.
FORMAT_VERSION = 2  # 2: variables.csv scales (log labs)
IMPUTE_MODES = ("forward", "none")
_ARRAYS = ("stay_ids", "values", "masks", "deltas", "statics")


@dataclass(frozen=True)
class DiscretizerConfig:
    """How events become bins. ``variables=None`` means those present in the train split."""

    bin_hours: float = 1.0
    window_hours: float = 48.0
    variables: tuple[str, ...] | None = None
    impute: str = "forward"  # "forward": ffill, then normal value; "none": unobserved = normal
    normalize: bool = True
    scales: bool = True  # apply variables.csv scales (log labs) before normalizing

    def __post_init__(self) -> None:
        if not (self.bin_hours > 0 and self.window_hours > 0):
            raise ConfigError(f"bin_hours ({self.bin_hours}) and window_hours "
                              f"({self.window_hours}) must be positive")
        if self.impute not in IMPUTE_MODES:
            raise ConfigError(f"impute must be one of {IMPUTE_MODES}, not {self.impute!r}")
        if self.variables is not None:
            object.__setattr__(self, "variables", tuple(self.variables))

    @property
    def n_bins(self) -> int:
        return int(math.ceil(self.window_hours / self.bin_hours - 1e-9))


@dataclass
class Tensors:
    """Discretized arrays of every stay (row i of each array is ``stay_ids[i]``)."""

    stay_ids: np.ndarray  # (N,) int64
    values: np.ndarray  # (N, T, F) float32
    masks: np.ndarray  # (N, T, V) float32
    deltas: np.ndarray  # (N, T, V) float32, hours
    statics: np.ndarray  # (N, S) float32
    feature_names: list[str]
    variable_names: list[str]
    static_names: list[str]
    stats: dict[str, dict[str, float]]  # name -> {"mean", "std"} (train split only)
    config: DiscretizerConfig
    quality: QualityReport = field(default_factory=QualityReport)

    def save(self, directory: Path) -> None:
        """Write atomically: ``arrays.npz`` plus ``layout.json`` (names, stats, quality)."""
        with atomic_dir(directory) as tmp:
            with (tmp / "arrays.npz").open("wb") as fh:
                np.savez(fh, **{name: getattr(self, name) for name in _ARRAYS})
            layout = {
                "feature_names": self.feature_names,
                "variable_names": self.variable_names,
                "static_names": self.static_names,
                "stats": self.stats,
                "config": asdict(self.config),
                "quality": self.quality.to_dict(),
            }
            (tmp / "layout.json").write_text(json.dumps(layout, indent=1))

    @classmethod
    def load(cls, directory: Path) -> Tensors:
        layout = json.loads((directory / "layout.json").read_text())
        with np.load(directory / "arrays.npz") as arrays:
            data = {name: arrays[name] for name in _ARRAYS}
        return cls(
            **data,
            feature_names=layout["feature_names"],
            variable_names=layout["variable_names"],
            static_names=layout["static_names"],
            stats=layout["stats"],
            config=DiscretizerConfig(**layout["config"]),
            quality=QualityReport.from_dict(layout["quality"]),
        )


# -- variable selection and event cleaning ------------------------------------------------
def _select_variables(
    cohort: Cohort, config: DiscretizerConfig, catalog: dict[str, Variable]
) -> list[str]:
    if config.variables is not None:
        unknown = [v for v in config.variables if v not in catalog]
        if unknown:
            raise ConfigError(f"unknown variables {unknown}; known ones are in variables.csv")
        wanted = set(config.variables)
    else:
        train = cohort.stays.loc[cohort.stays["split"].eq("train").fillna(False), "stay_id"]
        in_train = cohort.events["stay_id"].isin(train)
        wanted = set(cohort.events.loc[in_train, "variable"].dropna().unique()) & set(catalog)
    if not wanted:
        raise DataError("no known variables in the train split's events", field="events.variable")
    return [name for name in catalog if name in wanted]  # variables.csv order: stable layout


def _clean_events(
    events: pd.DataFrame, variables: list[str], catalog: dict[str, Variable],
    config: DiscretizerConfig, quality: QualityReport,
) -> pd.DataFrame:
    """Keep usable events as (stay, hours, var_index, value); count every dropped row."""
    var_idx = pd.Index(variables).get_indexer(events["variable"].astype(object))
    value = events["value"].to_numpy(dtype="float64", na_value=np.nan)
    hours = events["hours"].to_numpy(dtype="float64", na_value=np.nan)
    known = set(catalog)
    unknown = ~events["variable"].isin(known).to_numpy()
    quality.add("events", "variable", "unknown_variable", int(unknown.sum()))
    keep = var_idx >= 0
    bad_value = keep & ~np.isfinite(value)
    quality.add("events", "value", "non_finite", int(bad_value.sum()))
    keep &= ~bad_value
    late = keep & ~(hours <= config.window_hours)  # NaN hours count as late
    quality.add("events", "hours", "after_window", int(late.sum()))
    keep &= ~late
    low = np.array([catalog[v].valid_low for v in variables])
    high = np.array([catalog[v].valid_high for v in variables])
    safe_idx = np.where(keep, var_idx, 0)
    out = keep & ((value < low[safe_idx]) | (value > high[safe_idx]))
    if out.any():
        counts = np.bincount(var_idx[out], minlength=len(variables))
        for i in np.flatnonzero(counts):
            quality.add("events", variables[i], "out_of_bounds", int(counts[i]))
    keep &= ~out
    return pd.DataFrame({
        "stay_id": events["stay_id"].to_numpy()[keep],
        "hours": hours[keep],
        "var": var_idx[keep],
        "value": value[keep],
    })


# -- the 3-D scatter -----------------------------------------------------------------------
def _scatter_last(
    clean: pd.DataFrame, stay_ids: np.ndarray, n_vars: int, config: DiscretizerConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Last value per (stay, bin, variable): observed (N, T, V) with NaN, and mask (N, T, V)."""
    n, t = len(stay_ids), config.n_bins
    row = pd.Index(stay_ids).get_indexer(clean["stay_id"])
    # Events before admission belong to the first bin, the event at exactly window_hours
    # to the last: both are known at prediction time.
    bins = np.clip(np.floor(clean["hours"].to_numpy() / config.bin_hours), 0, t - 1).astype(np.int64)
    flat = (row.astype(np.int64) * t + bins) * n_vars + clean["var"].to_numpy()
    order = np.lexsort((clean["hours"].to_numpy(), flat))  # by cell, then time
    flat_sorted = flat[order]
    last = np.ones(len(flat_sorted), dtype=bool)
    last[:-1] = flat_sorted[1:] != flat_sorted[:-1]
    observed = np.full(n * t * n_vars, np.nan, dtype=np.float64)
    observed[flat_sorted[last]] = clean["value"].to_numpy()[order][last]
    observed = observed.reshape(n, t, n_vars)
    return observed, ~np.isnan(observed)


def _fill_and_deltas(
    observed: np.ndarray, mask: np.ndarray, normals: np.ndarray, config: DiscretizerConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Forward fill along time (normal value before the first observation) and deltas."""
    n, t, v = observed.shape
    steps = np.arange(t).reshape(1, t, 1)
    last_seen = np.maximum.accumulate(np.where(mask, steps, -1), axis=1)  # (N, T, V)
    deltas = np.where(last_seen >= 0, (steps - last_seen) * config.bin_hours, config.window_hours)
    deltas = np.minimum(deltas, config.window_hours).astype(np.float32)
    if config.impute == "forward":
        gathered = np.take_along_axis(observed, np.maximum(last_seen, 0), axis=1)
        filled = np.where(last_seen >= 0, gathered, normals.reshape(1, 1, v))
    else:
        filled = np.where(mask, observed, normals.reshape(1, 1, v))
    return filled, deltas


def _features(
    filled: np.ndarray, observed: np.ndarray, train_rows: np.ndarray, variables: list[str],
    catalog: dict[str, Variable], config: DiscretizerConfig,
) -> tuple[np.ndarray, list[str], dict[str, dict[str, float]]]:
    """Continuous columns z-normalized by train stats, categorical columns one-hot."""
    columns: list[np.ndarray] = []
    names: list[str] = []
    stats: dict[str, dict[str, float]] = {}
    for j, name in enumerate(variables):
        var = catalog[name]
        col = filled[:, :, j]
        if var.is_categorical:
            for cat in var.categories:
                columns.append((col == cat).astype(np.float32))
                names.append(f"{name}={cat:g}")
            continue
        seen = observed[train_rows, :, j]
        seen = seen[~np.isnan(seen)]
        if var.scale == "log" and config.scales:
            col, seen = (np.log1p(np.maximum(x, 0.0) / var.normal) for x in (col, seen))
        mean = float(seen.mean()) if seen.size else var.normal
        std = float(seen.std()) if seen.size > 1 else 1.0
        std = std if std > 1e-8 else 1.0
        stats[name] = {"mean": mean, "std": std}
        columns.append(((col - mean) / std if config.normalize else col).astype(np.float32))
        names.append(name)
    return np.stack(columns, axis=-1), names, stats


def _statics(
    stays: pd.DataFrame, train_rows: np.ndarray, config: DiscretizerConfig
) -> tuple[np.ndarray, list[str], dict[str, dict[str, float]]]:
    columns: list[np.ndarray] = []
    names: list[str] = []
    stats: dict[str, dict[str, float]] = {}
    for name in ("age", "height", "weight"):
        raw = stays[name].to_numpy(dtype="float64", na_value=np.nan)
        raw = np.where(np.isfinite(raw), raw, np.nan)
        train = raw[train_rows]
        train = train[~np.isnan(train)]
        mean = float(train.mean()) if train.size else 0.0
        std = float(train.std()) if train.size > 1 and train.std() > 1e-8 else 1.0
        stats[f"static:{name}"] = {"mean": mean, "std": std}
        filled = np.where(np.isnan(raw), mean, raw)
        columns.append((filled - mean) / std if config.normalize else filled)
        names.append(name)
        if name != "age":
            columns.append(np.isnan(raw).astype(np.float64))
            names.append(f"{name}_missing")
    # One-hot via Series.eq: a missing sex or ICU type is all zeros, never NA.
    for value in ("F", "M"):
        columns.append(stays["sex"].eq(value).fillna(False).to_numpy(dtype=np.float64))
        names.append(f"sex={value}")
    icu = stays["icu_type"]
    for value in sorted(icu.iloc[train_rows].dropna().astype(str).unique()):
        columns.append(icu.eq(value).fillna(False).to_numpy(dtype=np.float64))
        names.append(f"icu_type={value}")
    return np.stack(columns, axis=-1).astype(np.float32), names, stats


# -- public entry points --------------------------------------------------------------------
def discretize(cohort: Cohort, config: DiscretizerConfig = DiscretizerConfig()) -> Tensors:
    """Discretize every stay of ``cohort`` (no caching; see :func:`discretize_dir`)."""
    catalog = load_variables()
    stays = cohort.stays.sort_values("stay_id").reset_index(drop=True)
    train_rows = np.flatnonzero(stays["split"].eq("train").fillna(False).to_numpy(dtype=bool))
    if train_rows.size == 0:
        raise DataError("no stays in the train split; normalization needs one",
                        field="stays.split")
    quality = QualityReport()
    variables = _select_variables(cohort, config, catalog)
    clean = _clean_events(cohort.events, variables, catalog, config, quality)
    stay_ids = stays["stay_id"].to_numpy(dtype=np.int64).copy()  # writable (pandas CoW)
    observed, mask = _scatter_last(clean, stay_ids, len(variables), config)
    normals = np.array([catalog[v].normal for v in variables])
    filled, deltas = _fill_and_deltas(observed, mask, normals, config)
    values, feature_names, stats = _features(filled, observed, train_rows, variables, catalog, config)
    statics, static_names, static_stats = _statics(stays, train_rows, config)
    stats.update(static_stats)
    if quality.total():
        log.info("discretize: dropped events\n%s", quality.summary())
    return Tensors(
        stay_ids=stay_ids, values=values, masks=mask.astype(np.float32), deltas=deltas,
        statics=statics, feature_names=feature_names, variable_names=variables,
        static_names=static_names, stats=stats, config=config, quality=quality,
    )


def cohort_identity(directory: str | Path) -> dict[str, Any]:
    """What the tensors depend on: ``meta.json`` content and the stays/events file digests."""
    directory = Path(directory)
    meta = directory / "meta.json"
    if not meta.is_file():
        raise DataError("not a cohort folder (no meta.json); run `realm data prepare`",
                        path=directory)
    return {
        "meta": json.loads(meta.read_text()),
        "files": {name: file_digest(directory / name)
                  for name in ("stays.parquet", "events.parquet")},
    }


def discretize_dir(
    directory: str | Path, config: DiscretizerConfig = DiscretizerConfig(),
    cache_root: str | Path | None = None,
) -> Tensors:
    """Discretize the cohort in ``directory``, reusing ``<cache>/tensors/<key>`` when present."""
    key = config_hash(cohort_identity(directory), config, FORMAT_VERSION)
    target = stage_dir("tensors", key, cache_root)
    if (target / "layout.json").is_file():
        log.info("discretize: reusing cached tensors %s", target)
        return Tensors.load(target)
    cohort = Cohort.load(directory, tables=("events",))
    tensors = discretize(cohort, config)
    try:
        tensors.save(target)
    except OSError:
        # Another process (a second run, a DDP rank) wrote the same key first: same content.
        if not (target / "layout.json").is_file():
            raise
    log.info("discretize: %d stays -> %s", len(tensors.stay_ids), target)
    return tensors
