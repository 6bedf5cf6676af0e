"""Train/validation/test splits at the subject level.

A subject's stays always share one split: a patient seen in training and again in test
leaks their physiology and outcome into the score. Random splits are stratified by whether
the subject has any positive label for the task, so rare outcomes reach every split; they
are seeded and depend only on the set of subjects, never on row order. A temporal split
sends the oldest subjects (by first ICU admission) to train and the newest to test.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from realm.errors import ConfigError, DataError

__all__ = ["SPLITS", "assign_splits", "check_subject_disjoint", "check_fractions", "subject_folds"]

log = logging.getLogger(__name__)

SPLITS: tuple[str, str, str] = ("train", "val", "test")


def check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    """Return ``fractions`` as floats; raise :class:`ConfigError` unless they are three
    non-negative numbers summing to 1 with a non-empty train share."""
    if len(fractions) != 3:
        raise ConfigError(f"split fractions need 3 values (train, val, test), got {fractions}")
    values = tuple(float(f) for f in fractions)
    if any(f < 0 or not math.isfinite(f) for f in values) or values[0] == 0:
        raise ConfigError(f"split fractions must be non-negative with train > 0, got {values}")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must sum to 1, got {values} (sum {sum(values)})")
    return values  # type: ignore[return-value]


def check_subject_disjoint(stays: pd.DataFrame, column: str = "split") -> None:
    """Raise :class:`DataError` if a subject has stays in more than one split, or a stay has
    no split or an unknown one."""
    for needed in ("subject_id", column):
        if needed not in stays.columns:
            raise DataError("stays lack a column", field=f"stays.{needed}")
    split = stays[column]
    if split.isna().any():
        stay = stays.loc[split.isna(), "stay_id"].iloc[0] if "stay_id" in stays else "?"
        raise DataError(f"stay {stay} has no split", field=f"stays.{column}")
    unknown = ~split.isin(SPLITS)
    if unknown.any():
        raise DataError(f"unknown split {split[unknown].iloc[0]!r} (expected one of {SPLITS})",
                        field=f"stays.{column}")
    per_subject = stays.groupby("subject_id")[column].nunique()
    leaked = per_subject[per_subject > 1]
    if not leaked.empty:
        raise DataError(f"{len(leaked)} subjects are in more than one split "
                        f"(e.g. subject {leaked.index[0]})", field=f"stays.{column}")


def _cut(n: int, fractions: tuple[float, float, float]) -> np.ndarray:
    """Split labels for ``n`` ordered items: the first ~f0·n train, then val, rest test."""
    n_train = int(round(fractions[0] * n))
    n_val = min(int(round(fractions[1] * n)), n - n_train)
    if fractions[2] == 0:  # no test share: rounding must not leave a stray test item
        n_val = n - n_train
    out = np.empty(n, dtype=object)
    out[:n_train] = "train"
    out[n_train:n_train + n_val] = "val"
    out[n_train + n_val:] = "test"
    return out


def _subject_table(stays: pd.DataFrame, labels: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per subject: whether any stay is positive, and the first intime."""
    if task not in labels.columns:
        raise ConfigError(f"unknown task {task!r}; labels have {list(labels.columns)}")
    positive = labels.set_index("stay_id")[task].reindex(stays["stay_id"].to_numpy())
    frame = pd.DataFrame({
        "subject_id": stays["subject_id"].to_numpy(),
        "positive": (positive.fillna(0).to_numpy() == 1),  # undefined labels stratify as 0
        "intime": (stays["intime"].to_numpy() if "intime" in stays.columns
                   else np.full(len(stays), np.datetime64("NaT", "ns"))),
    })
    return frame.groupby("subject_id").agg(positive=("positive", "any"),
                                           intime=("intime", "min"))


def assign_splits(
    stays: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    task: str = "mortality",
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    temporal: bool = False,
    column: str | None = None,
) -> pd.Series:
    """Return "train"/"val"/"test" for every stay (index aligned with ``stays``).

    ``column`` names an existing stays column to use as the split (e.g. the synthetic
    hospital's designed test set); it is checked, not changed. Otherwise subjects are
    split, stratified by any positive ``task`` label (random, seeded) or ordered by first
    ``intime`` (``temporal``; oldest to train, ties broken by subject id).
    """
    if stays["stay_id"].duplicated().any():
        raise DataError("duplicate stay_id", field="stays.stay_id")
    if column is not None:
        if column not in stays.columns:
            raise ConfigError(f"split column {column!r} not in stays")
        result = stays[column].astype("string").rename("split")
    else:
        fractions = check_fractions(fractions)
        subjects = _subject_table(stays, labels, task)
        if temporal:
            if subjects["intime"].isna().any():
                missing = subjects.index[subjects["intime"].isna()][0]
                raise DataError(f"temporal split needs intime; subject {missing} has none",
                                field="stays.intime")
            ordered = subjects.reset_index().sort_values(["intime", "subject_id"], kind="stable")
            chosen = pd.Series(_cut(len(ordered), fractions), index=ordered["subject_id"])
        else:
            rng = np.random.default_rng(seed)
            parts = []
            for positive in (False, True):  # fixed order keeps the RNG stream deterministic
                ids = np.sort(subjects.index[subjects["positive"] == positive].to_numpy())
                ids = ids[rng.permutation(len(ids))]
                parts.append(pd.Series(_cut(len(ids), fractions), index=ids))
            chosen = pd.concat(parts)
        result = pd.Series(chosen.reindex(stays["subject_id"].to_numpy()).to_numpy(),
                           index=stays.index, name="split", dtype="string")
    check_subject_disjoint(pd.DataFrame({"stay_id": stays["stay_id"],
                                         "subject_id": stays["subject_id"], "split": result}))
    log.debug("splits: %s", result.value_counts().to_dict())
    return result


def subject_folds(subject_ids: np.ndarray, positive: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..n_folds-1) of every row: whole subjects per fold, stratified by whether
    the subject has any positive row, seeded, independent of row order.

    For cross-fitting: models validated on different folds together train on every row.
    """
    subject_ids = np.asarray(subject_ids)
    positive = np.asarray(positive, dtype=bool)
    if subject_ids.shape != positive.shape:
        raise ConfigError(f"subject_ids {subject_ids.shape} and positive {positive.shape} differ in shape")
    subjects = pd.DataFrame({"subject_id": subject_ids, "positive": positive}).groupby("subject_id")["positive"].any()
    if n_folds < 2 or n_folds > len(subjects):
        raise ConfigError(f"n_folds must be between 2 and the number of subjects ({len(subjects)}), "
                          f"not {n_folds}")
    rng = np.random.default_rng(seed)
    folds = {}
    for flag in (False, True):  # fixed order keeps the RNG stream deterministic
        ids = np.sort(subjects.index[subjects.to_numpy() == flag].to_numpy())
        ids = ids[rng.permutation(len(ids))]
        # dealing positives and negatives round-robin keeps every fold's prevalence equal
        folds.update(zip(ids.tolist(), (np.arange(len(ids)) % n_folds).tolist()))
    return np.array([folds[s] for s in subject_ids.tolist()], dtype=np.int64)
