"""Per-subgroup performance: one row per (attribute, group), counts always shown.

Fairness audits go wrong in two quiet ways: small groups disappear from the table, and
metrics computed on a handful of stays look as solid as the overall figure. Here every
group present in the data gets a row -- including a ``"missing"`` group for stays where
the attribute is unknown -- with its stay count and positives; a group below
``min_count`` stays or holding a single class gets NaN metrics and a ``note`` saying why.
With ``n_resamples`` > 0 each metric also gets a patient-level bootstrap interval
(``<metric>_lo`` / ``<metric>_hi``), because a subgroup's point estimate alone invites
comparisons its size cannot support.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from realm.errors import DataError
from realm.eval.bootstrap import bootstrap_ci
from realm.eval.metrics import METRICS, resolve, validate_binary

__all__ = ["AGE_BANDS", "age_band", "subgroup_table"]

#: Age bands in years as (label, lower bound inclusive, upper bound exclusive).
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("18-44", 18, 45),
    ("45-64", 45, 65),
    ("65-79", 65, 80),
    ("80+", 80, np.inf),
)
MISSING = "missing"


def age_band(age: pd.Series) -> pd.Series:
    """Map ages in years to :data:`AGE_BANDS` labels; unknown ages become ``"missing"``
    and ages under 18 ``"<18"`` (adult cohorts should hold none, so they stay visible)."""
    values = pd.to_numeric(age, errors="coerce").astype(float)
    out = pd.Series(MISSING, index=age.index, dtype=object)
    out[values < AGE_BANDS[0][1]] = "<18"
    for label, low, high in AGE_BANDS:
        out[(values >= low) & (values < high)] = label
    return out


def _group_labels(frame: pd.DataFrame, column: str) -> pd.Series:
    if column == "age":
        return age_band(frame[column])
    labels = frame[column].astype(object)
    return labels.where(labels.notna(), MISSING).astype(str)


def _row(attribute: str, group: str, y: np.ndarray, p: np.ndarray, names: list[str],
         min_count: int, subjects: np.ndarray | None, n_resamples: int,
         seed: int) -> dict[str, object]:
    n, pos = len(y), int(y.sum())
    row: dict[str, object] = {"attribute": attribute, "group": group, "n": n,
                              "positives": pos, "prevalence": pos / n if n else np.nan}
    too_small = n < min_count
    note = f"fewer than {min_count} stays" if too_small else (
        "single class" if pos in (0, n) else "")
    intervals = (bootstrap_ci(y, p, subjects, names, n_resamples=n_resamples, seed=seed)
                 if n_resamples and not too_small else {})
    for name in names:
        # Brier is defined on one class, but on a tiny group it invites over-reading,
        # so small groups get NaN for every metric; single-class groups keep what is defined.
        row[name] = np.nan if too_small else float(METRICS[name](y, p))
        if n_resamples:
            lo, hi = intervals[name]["ci95"] if name in intervals else (np.nan, np.nan)
            row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi
    row["note"] = note
    return row


def subgroup_table(frame: pd.DataFrame, *,
                   columns: Sequence[str] = ("sex", "age", "icu_type", "ethnicity", "insurance"),
                   metrics: Sequence[str] = ("auroc", "auprc", "brier"),
                   min_count: int = 50, y_true: str = "y_true",
                   y_prob: str = "y_prob", n_resamples: int = 0,
                   subject: str | None = "subject_id", seed: int = 0) -> pd.DataFrame:
    """Metrics per subgroup of each attribute in ``columns``, after an ``overall`` row.

    ``frame`` holds one row per stay with the label column ``y_true``, the probability
    column ``y_prob`` and the attribute columns; ``age`` is banded by :data:`AGE_BANDS`.
    Columns: attribute, group, n, positives, prevalence, one per metric (and with
    ``n_resamples`` > 0 its 95 % bootstrap bounds ``<metric>_lo``/``<metric>_hi``,
    resampling the ``subject`` column's patients when it is present), note. Groups are
    sorted by label within an attribute; none is dropped.
    """
    names = resolve(metrics)
    for col in (y_true, y_prob, *columns):
        if col not in frame.columns:
            raise DataError("subgroup frame lacks a column", field=col)
    y, p = validate_binary(frame[y_true].to_numpy(), frame[y_prob].to_numpy())
    subjects = frame[subject].to_numpy() if subject and subject in frame.columns else None

    def row(attribute: str, group: str, mask: np.ndarray) -> dict[str, object]:
        return _row(attribute, group, y[mask], p[mask], names, min_count,
                    None if subjects is None else subjects[mask], n_resamples, seed)

    rows = [row("overall", "all", np.ones(len(y), bool))]
    for column in columns:
        labels = _group_labels(frame, column).to_numpy()
        for group in sorted(set(labels)):
            rows.append(row(column, str(group), labels == group))
    bounds = [f"{n}_{b}" for n in names for b in ("lo", "hi")] if n_resamples else []
    return pd.DataFrame(rows, columns=["attribute", "group", "n", "positives", "prevalence",
                                       *names, *bounds, "note"])
