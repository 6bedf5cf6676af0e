"""From predictions tables to the evaluation record written as ``metrics.json``.

Per task and model: AUROC, AUPRC (average precision: the step-wise, non-interpolated
estimator, as scikit-learn's ``average_precision_score``), min(Se, +P) (its maximum over
thresholds), Brier, ECE (10 equal-width bins) and the logistic calibration slope and
intercept, each with a 95 % percentile interval from the patient-level bootstrap of
:mod:`realm.eval.bootstrap` (every metric of one model shares the same resamples). Then the
operating point, the subgroup table, and paired differences between the reference model
and every other model on the stays both predicted (same resamples for both).

Rows whose label is undefined (NA) are left out and counted, never imputed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from realm.errors import ConfigError, DataError
from realm.eval.bootstrap import bootstrap_ci, paired_bootstrap_diff
from realm.eval.calibration_ci import calibration_ci
from realm.eval.metrics import METRICS
from realm.eval.subgroups import subgroup_table

__all__ = ["evaluate_predictions", "operating_point", "ESTIMATORS", "REPORTED_METRICS",
           "labelled"]

log = logging.getLogger(__name__)

#: The metrics reported for every model, in table order.
REPORTED_METRICS: tuple[str, ...] = ("auroc", "auprc", "min_se_ppv", "brier", "ece",
                                     "calibration_slope", "calibration_intercept")
#: Which estimator each number is; written into metrics.json so a reader never guesses.
ESTIMATORS: dict[str, str] = {
    "auroc": "Mann-Whitney U / (P*N), ties count one half",
    "auprc": "average precision, sum_k (R_k - R_{k-1}) P_k, no interpolation "
             "(scikit-learn average_precision_score); not the trapezoidal area",
    "min_se_ppv": "max over thresholds of min(sensitivity, PPV) (PhysioNet 2012 event 1)",
    "brier": "mean squared error of the probability",
    "ece": "expected calibration error, 10 equal-width bins",
    "calibration_slope": "b in logit P(y) = a + b logit(p), maximum likelihood",
    "calibration_intercept": "a in logit P(y) = a + logit(p) (calibration-in-the-large)",
    "interval": "95% percentile interval, patient-level bootstrap (subjects resampled "
                "with replacement; all stays of a drawn subject enter)",
}
SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "age", "icu_type", "ethnicity", "insurance")


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a defined label, as plain ints (y_true) and floats (y_prob)."""
    out = frame[frame["y_true"].notna()].copy()
    out["y_true"] = out["y_true"].astype(int)
    return out


def operating_point(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float]:
    """The threshold maximizing min(Se, +P), with its sensitivity and PPV.

    Stays with ``y_prob >= threshold`` are positive; tied probabilities share a threshold.
    Among equally good thresholds the highest is taken (fewest alarms).
    """
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_prob, dtype=float)
    if y.sum() == 0:
        return {"threshold": float("nan"), "sensitivity": float("nan"), "ppv": float("nan")}
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # last row of each tie group
    tp, n = np.cumsum(ys)[last], np.arange(1, len(ys) + 1)[last]
    se, ppv = tp / y.sum(), tp / n
    best = int(np.argmax(np.minimum(se, ppv)))  # argmax returns the first = highest threshold
    return {"threshold": float(ps[last][best]), "sensitivity": float(se[best]),
            "ppv": float(ppv[best])}


def _model_record(rows: pd.DataFrame, n_resamples: int, seed: int) -> dict[str, Any]:
    y, p = rows["y_true"].to_numpy(), rows["y_prob"].to_numpy()
    groups = rows["subject_id"].to_numpy()
    names = [m for m in REPORTED_METRICS if m in METRICS]
    metrics = bootstrap_ci(y, p, groups, names, n_resamples=n_resamples, seed=seed)
    metrics.update(calibration_ci(y, p, groups, n_resamples=n_resamples, seed=seed))
    return {"n": int(len(rows)), "positives": int(y.sum()),
            "subjects": int(rows["subject_id"].nunique()), "metrics": metrics,
            "operating_point": operating_point(y, p)}


def _comparisons(rows: pd.DataFrame, reference: str, others: Sequence[str], n_resamples: int,
                 seed: int) -> dict[str, Any]:
    """Reference minus each other model on the stays both predicted."""
    wide = rows.pivot(index="stay_id", columns="model", values="y_prob")
    meta = rows.drop_duplicates("stay_id").set_index("stay_id")
    out: dict[str, Any] = {}
    for other in others:
        both = wide[[reference, other]].dropna()
        if len(both) < len(wide):
            log.warning("%s and %s share %d of %d stays; compared on those", reference, other,
                        len(both), len(wide))
        y = meta.loc[both.index, "y_true"].to_numpy()
        if y.min() == y.max():
            continue
        diff = paired_bootstrap_diff(y, both[reference].to_numpy(), both[other].to_numpy(),
                                     meta.loc[both.index, "subject_id"].to_numpy(),
                                     ("auroc", "auprc", "min_se_ppv", "brier"),
                                     n_resamples=n_resamples, seed=seed)
        out[other] = {"n": int(len(both)), "metrics": diff}
    return out


def _subgroups(rows: pd.DataFrame, min_count: int, n_resamples: int,
               seed: int) -> list[dict[str, Any]]:
    columns = [c for c in SUBGROUP_COLUMNS if c in rows.columns and rows[c].notna().any()]
    table = subgroup_table(rows, columns=columns, metrics=("auroc", "auprc", "brier"),
                           min_count=min_count, n_resamples=n_resamples, seed=seed)
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
             for k, v in rec.items()} for rec in table.to_dict(orient="records")]


def evaluate_predictions(frame: pd.DataFrame, *, reference: str | None = None,
                         n_resamples: int = 1000, seed: int = 0,
                         min_subgroup: int = 50) -> dict[str, Any]:
    """The whole evaluation record (see the module docstring) for a predictions table
    holding one or more models. ``reference`` (default: the first model in the table) is
    the model whose subgroups are tabulated and which is compared with the others."""
    if frame.empty:
        raise DataError("no predictions to evaluate", field="y_prob")
    models = list(dict.fromkeys(frame["model"].astype(str)))
    reference = reference or models[0]
    if reference not in models:
        raise ConfigError(f"reference model {reference!r} not among {models}")
    record: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed, "alpha": 0.05,
                              "reference": reference, "models": models,
                              "estimators": ESTIMATORS, "tasks": {}}
    for task in dict.fromkeys(frame["task"].astype(str)):
        rows_all = frame[frame["task"] == task]
        rows = labelled(rows_all)
        entry: dict[str, Any] = {"unlabelled_rows_dropped": int(len(rows_all) - len(rows)),
                                 "models": {}, "comparisons": {}, "subgroups": []}
        if rows.empty or rows["y_true"].nunique() < 2:
            entry["note"] = "fewer than two outcome classes: metrics undefined"
            record["tasks"][task] = entry
            continue
        for model in models:
            sub = rows[rows["model"] == model]
            if len(sub):
                entry["models"][model] = _model_record(sub, n_resamples, seed)
        task_models = list(entry["models"])
        if reference in task_models:
            entry["subgroups"] = _subgroups(rows[rows["model"] == reference], min_subgroup,
                                            n_resamples, seed)
            entry["comparisons"] = _comparisons(rows, reference,
                                                [m for m in task_models if m != reference],
                                                n_resamples, seed)
        record["tasks"][task] = entry
    return record
