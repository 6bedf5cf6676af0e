"""The predictions table (``predictions.parquet``): what a model said about each stay.

One row per (model, task, stay); every model writes the same long format, so a trained
network, a tabular baseline and the synthetic oracle are compared by the same code::

    stay_id* int64, subject_id* int64, task* str, y_true Int8 (NA: label undefined),
    y_prob* float64, model* str, then the stay's subgroup columns
    (age float64, sex, icu_type, ethnicity, insurance: str)

``subject_id`` travels with every row because intervals resample patients, not stays.

``realm predict`` (or ``Trainer.predict``) writes the table next to the run through the
Lightning callback :class:`~realm.eval.prediction_writer.PredictionWriter` (its own module, so
reading and scoring tables never imports Lightning); :func:`predictions_frame` builds the same
table from plain arrays (baselines, the oracle); :func:`read_predictions` validates a file and
says which row or field is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from realm.cache import atomic_path
from realm.errors import DataError

__all__ = [
    "PREDICTION_COLUMNS",
    "SUBGROUP_COLUMNS",
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
