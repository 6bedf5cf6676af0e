"""Summary-statistic features per stay: the classic input of the tabular baselines.

For every variable, ``min``, ``max``, ``mean``, ``last`` (value at the latest time) and
``count`` of its measurements inside the prediction window, plus static features from
the stays table. The output has one row per stay of ``stays``, in that order, indexed by
``stay_id``: a stay without measurements gets NaN statistics and count 0, never a
missing row, so features and labels stay aligned.

The column set depends only on the arguments, never on which variables happen to be
measured, so features computed separately for a training and a test cohort line up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from realm.errors import ConfigError, DataError
from realm.resources import load_variables

__all__ = ["STATS", "STATIC_NUMERIC", "summary_features", "static_features"]

STATS: tuple[str, ...] = ("min", "max", "mean", "last", "count")
STATIC_NUMERIC: tuple[str, ...] = ("age", "height", "weight")


def static_features(stays: pd.DataFrame,
                    icu_types: Sequence[str] | None = None) -> pd.DataFrame:
    """age, height, weight, ``sex_male`` (1/0, NaN if unknown) and one ``icu_<type>``
    indicator per ICU type (from ``icu_types``, else the sorted types present).

    Pass ``icu_types`` explicitly when train and test features are built separately, so
    both get the same indicator columns.
    """
    if "stay_id" not in stays.columns:
        raise DataError("stays table lacks a column", field="stay_id")
    out = pd.DataFrame(index=pd.Index(stays["stay_id"].to_numpy(), name="stay_id"))
    for col in STATIC_NUMERIC:
        values = stays[col] if col in stays.columns else pd.Series(np.nan, index=stays.index)
        out[col] = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    sex = stays["sex"] if "sex" in stays.columns else pd.Series(pd.NA, index=stays.index)
    out["sex_male"] = sex.map({"M": 1.0, "F": 0.0}).astype(float).to_numpy()
    icu = (stays["icu_type"].astype(object) if "icu_type" in stays.columns
           else pd.Series(None, index=stays.index, dtype=object))
    types = sorted(icu.dropna().unique()) if icu_types is None else list(icu_types)
    for name in types:
        # Unknown ICU type: every indicator is 0, the same as "none of these".
        out[f"icu_{name}"] = (icu == name).astype(float).to_numpy()
    return out


def summary_features(events: pd.DataFrame, stays: pd.DataFrame, *,
                     window_hours: float = 48.0, variables: Sequence[str] | None = None,
                     stats: Sequence[str] = STATS,
                     icu_types: Sequence[str] | None = None,
                     include_static: bool = True) -> pd.DataFrame:
    """One row per stay: ``<variable>__<stat>`` columns, then the static features.

    Only events with ``hours <= window_hours`` are used, whatever the cohort's own cut,
    so a feature never sees data recorded after the prediction time. ``variables``
    defaults to every variable of ``realm/resources/variables.csv``; events of other
    variables, and of stays not in ``stays``, are ignored.
    """
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ConfigError(f"unknown or no statistics {unknown}; choose from {list(STATS)}")
    if not np.isfinite(window_hours):
        raise ConfigError(f"window_hours must be finite, got {window_hours!r}")
    for col in ("stay_id", "hours", "variable", "value"):
        if col not in events.columns:
            raise DataError("events table lacks a column", field=col)
    names = list(load_variables()) if variables is None else list(variables)
    if len(set(names)) != len(names):
        raise ConfigError("variables are repeated")
    if "stay_id" not in stays.columns:
        raise DataError("stays table lacks a column", field="stay_id")
    stay_ids = pd.Index(stays["stay_id"].to_numpy(), name="stay_id")
    if stay_ids.has_duplicates:
        raise DataError("duplicate stay_id in stays", field="stay_id")

    keep = (events["hours"].astype(float) <= window_hours) & events["variable"].isin(names)
    keep &= events["stay_id"].isin(stay_ids) & events["value"].notna()
    ev = events.loc[keep, ["stay_id", "hours", "variable", "value"]].copy()
    ev["variable"] = ev["variable"].astype(str)
    ev["value"] = ev["value"].astype(float)
    # Stable sort by time so "last" is the latest measurement (file order breaks ties).
    ev = ev.sort_values(["stay_id", "hours"], kind="stable")
    agg = ev.groupby(["stay_id", "variable"], sort=False)["value"].agg(list(stats))
    wide = agg.unstack("variable") if len(agg) else pd.DataFrame(index=pd.Index([], name="stay_id"))

    columns = [f"{var}__{stat}" for var in names for stat in stats]
    wide.columns = [f"{var}__{stat}" for stat, var in wide.columns]
    out = wide.astype(float).reindex(index=stay_ids, columns=columns)
    if "count" in stats:
        count_cols = [f"{var}__count" for var in names]
        out[count_cols] = out[count_cols].fillna(0.0)
    if include_static:
        out = out.join(static_features(stays, icu_types))
    return out
