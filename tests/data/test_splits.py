"""Subject-level splits: disjoint, stratified, deterministic, temporal, or given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.data.splits import assign_splits, check_subject_disjoint
from realm.errors import ConfigError, DataError


def make_cohort(n_subjects: int = 400, seed: int = 1, positive_rate: float = 0.1):
    """Subjects with 1-3 stays each, rare positive labels and spread-out admission times."""
    rng = np.random.default_rng(seed)
    per = rng.integers(1, 4, n_subjects)
    subject = np.repeat(np.arange(1000, 1000 + n_subjects), per)
    stay = np.arange(len(subject)) + 50_000
    first = pd.Timestamp("2100-01-01") + pd.to_timedelta(rng.integers(0, 3650, n_subjects), "D")
    intime = np.repeat(first.to_numpy(), per) + pd.to_timedelta(
        np.concatenate([np.arange(k) * 40 for k in per]), "D").to_numpy()
    stays = pd.DataFrame({"stay_id": stay, "subject_id": subject, "intime": intime})
    labels = pd.DataFrame({"stay_id": stay,
                           "mortality": pd.array(rng.random(len(stay)) < positive_rate,
                                                 dtype="Int8")})
    labels.loc[labels.index[::17], "mortality"] = pd.NA  # undefined labels must not break it
    return stays, labels


def test_subjects_never_cross_splits_and_shares_follow_fractions() -> None:
    stays, labels = make_cohort()
    split = assign_splits(stays, labels)
    assert split.index.equals(stays.index) and set(split) == {"train", "val", "test"}
    assert (stays.assign(split=split).groupby("subject_id")["split"].nunique() == 1).all()
    by_subject = stays.assign(split=split).drop_duplicates("subject_id")["split"]
    shares = by_subject.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.7, abs=0.02)
    assert shares["val"] == pytest.approx(0.15, abs=0.02)


def test_stratified_by_any_positive_label() -> None:
    stays, labels = make_cohort(n_subjects=600, positive_rate=0.05)
    split = assign_splits(stays, labels, seed=3)
    merged = stays.assign(split=split).merge(labels, on="stay_id")
    positive = merged.groupby("subject_id").agg(split=("split", "first"),
                                                pos=("mortality", lambda s: (s == 1).any()))
    rate = positive.groupby("split")["pos"].mean()
    overall = positive["pos"].mean()
    assert (rate - overall).abs().max() < 0.015


def test_deterministic_seeded_and_independent_of_row_order() -> None:
    stays, labels = make_cohort()
    first = assign_splits(stays, labels, seed=7)
    assert first.equals(assign_splits(stays, labels, seed=7))
    assert not first.equals(assign_splits(stays, labels, seed=8))
    shuffled = stays.sample(frac=1.0, random_state=0)
    again = assign_splits(shuffled, labels.sample(frac=1.0, random_state=1), seed=7)
    assert again.reindex(stays.index).equals(first)


def test_temporal_sends_oldest_subjects_to_train() -> None:
    stays, labels = make_cohort()
    split = assign_splits(stays, labels, temporal=True)
    first_in = stays.assign(split=split).groupby("subject_id").agg(
        split=("split", "first"), intime=("intime", "min"))
    latest = first_in.groupby("split")["intime"].agg(["min", "max"])
    assert latest.at["train", "max"] <= latest.at["val", "min"]
    assert latest.at["val", "max"] <= latest.at["test", "min"]
    with pytest.raises(DataError, match="intime"):
        assign_splits(stays.assign(intime=pd.NaT), labels, temporal=True)


def test_given_column_is_checked_not_changed() -> None:
    stays, labels = make_cohort(n_subjects=20)
    hint = np.where(stays["subject_id"] % 5 == 0, "test", "train")
    split = assign_splits(stays.assign(hint=hint), labels, column="hint")
    assert list(split) == list(hint)
    leaky = hint.copy()
    leaky[0], leaky[1] = "train", "test"  # subject 1000 has stays 0 and 1
    assert stays["subject_id"].iloc[0] == stays["subject_id"].iloc[1]
    with pytest.raises(DataError, match="more than one split"):
        assign_splits(stays.assign(hint=leaky), labels, column="hint")
    with pytest.raises(ConfigError, match="not in stays"):
        assign_splits(stays, labels, column="nope")


def test_bad_configuration_is_a_config_error() -> None:
    stays, labels = make_cohort(n_subjects=10)
    with pytest.raises(ConfigError, match="sum to 1"):
        assign_splits(stays, labels, fractions=(0.5, 0.3, 0.3))
    with pytest.raises(ConfigError, match="unknown task"):
        assign_splits(stays, labels, task="sepsis")


def test_check_subject_disjoint_names_the_problem() -> None:
    stays = pd.DataFrame({"stay_id": [1, 2, 3], "subject_id": [9, 9, 8],
                          "split": ["train", "val", "test"]})
    with pytest.raises(DataError, match="subject 9"):
        check_subject_disjoint(stays)
    with pytest.raises(DataError, match="unknown split 'dev'"):
        check_subject_disjoint(stays.assign(split=["dev", "dev", "test"]))
    with pytest.raises(DataError, match="stay 3 has no split"):
        check_subject_disjoint(stays.assign(split=["val", "val", None]))
    check_subject_disjoint(stays.assign(split=["val", "val", "test"]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=80),
       st.integers(0, 2**16))
def test_any_cohort_splits_disjointly_with_train_first(rows: list[tuple[int, bool]],
                                                       seed: int) -> None:
    stays = pd.DataFrame({"stay_id": range(len(rows)), "subject_id": [s for s, _ in rows]})
    labels = pd.DataFrame({"stay_id": range(len(rows)),
                           "mortality": pd.array([int(p) for _, p in rows], dtype="Int8")})
    split = assign_splits(stays, labels, seed=seed)
    assert split.notna().all()
    assert (stays.assign(split=split).groupby("subject_id")["split"].nunique() == 1).all()
    n_subjects = stays["subject_id"].nunique()
    n_train = stays.assign(split=split).drop_duplicates("subject_id")["split"].eq("train").sum()
    assert n_train >= 0.7 * n_subjects - 1  # each of the two strata rounds at most half down


def test_subject_folds_keep_subjects_whole_balance_positives_and_ignore_row_order() -> None:
    from realm.data.splits import subject_folds

    stays, labels = make_cohort(n_subjects=500, positive_rate=0.1)
    positive = (labels["mortality"].fillna(0) == 1).to_numpy()
    folds = subject_folds(stays["subject_id"].to_numpy(), positive, 5, seed=2)
    frame = pd.DataFrame({"subject": stays["subject_id"], "fold": folds, "pos": positive})
    assert set(folds) == set(range(5))
    assert (frame.groupby("subject")["fold"].nunique() == 1).all()
    per_fold = frame.groupby("subject").agg(fold=("fold", "first"), pos=("pos", "any"))
    counts = per_fold.groupby("fold")["pos"].agg(["sum", "size"])
    assert counts["sum"].max() - counts["sum"].min() <= 1  # positives dealt round-robin
    assert counts["size"].max() - counts["size"].min() <= 2
    order = np.random.default_rng(0).permutation(len(stays))
    again = subject_folds(stays["subject_id"].to_numpy()[order], positive[order], 5, seed=2)
    assert np.array_equal(again, folds[order])
    assert not np.array_equal(subject_folds(stays["subject_id"].to_numpy(), positive, 5, seed=3), folds)
    with pytest.raises(ConfigError, match="n_folds"):
        subject_folds(stays["subject_id"].to_numpy(), positive, 1)
