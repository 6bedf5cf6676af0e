"""Subgroup table: every group listed with counts; small or one-class groups get NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realm.errors import DataError
from realm.eval.metrics import auroc, brier
from realm.eval.subgroups import age_band, subgroup_table


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "y_true": [1, 0, 1, 0, 1, 0, 0, 1],
        "y_prob": [0.9, 0.2, 0.6, 0.7, 0.8, 0.1, 0.3, 0.4],
        "sex": ["F", "F", "F", "F", "M", "M", "M", None],
        "age": [30, 50, 70, 85, 44.9, 45, np.nan, 79.9],
    })


def test_age_bands_edges_and_missing() -> None:
    ages = pd.Series([18, 44.9, 45, 64.99, 65, 79.9, 80, 101, np.nan, 16])
    assert age_band(ages).tolist() == ["18-44", "18-44", "45-64", "45-64", "65-79", "65-79",
                                       "80+", "80+", "missing", "<18"]


def test_counts_metrics_and_nan_groups(frame: pd.DataFrame) -> None:
    table = subgroup_table(frame, columns=("sex", "age"), metrics=("auroc", "brier"), min_count=3)
    overall = table.iloc[0]
    assert (overall["attribute"], overall["group"], overall["n"], overall["positives"]) == (
        "overall", "all", 8, 4)
    assert overall["auroc"] == pytest.approx(auroc(frame["y_true"], frame["y_prob"]))
    sex = table[table["attribute"] == "sex"].set_index("group")
    assert sex["n"].to_dict() == {"F": 4, "M": 3, "missing": 1}
    assert sex["positives"].to_dict() == {"F": 2, "M": 1, "missing": 1}
    # F: positives .9, .6 vs negatives .2, .7 -> 3 of 4 pairs.
    assert sex.loc["F", "auroc"] == pytest.approx(0.75)
    assert sex.loc["F", "brier"] == pytest.approx(brier([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.7]))
    assert np.isnan(sex.loc["missing", "auroc"]) and sex.loc["missing", "note"].startswith("fewer")
    age = table[table["attribute"] == "age"].set_index("group")
    assert age["n"].to_dict() == {"18-44": 2, "45-64": 2, "65-79": 2, "80+": 1, "missing": 1}
    assert int(table.loc[table["attribute"] == "age", "n"].sum()) == 8  # nobody dropped


def test_single_class_group_is_flagged(frame: pd.DataFrame) -> None:
    frame = frame.assign(unit=["A", "A", "A", "B", "B", "B", "B", "B"])
    frame.loc[frame["unit"] == "B", "y_true"] = 0
    table = subgroup_table(frame, columns=("unit",), metrics=("auroc", "brier"), min_count=2)
    b = table[table["group"] == "B"].iloc[0]
    assert b["note"] == "single class" and np.isnan(b["auroc"])
    assert b["brier"] == pytest.approx(np.mean(np.array([0.7, 0.8, 0.1, 0.3, 0.4]) ** 2))


def test_missing_column_is_named(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="insurance"):
        subgroup_table(frame, columns=("insurance",))


def test_bootstrap_bounds_bracket_each_groups_estimate() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    big = pd.DataFrame({"y_true": y, "y_prob": np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1),
                        "sex": rng.choice(["F", "M"], n), "subject_id": np.arange(n) // 2})
    table = subgroup_table(big, columns=["sex"], min_count=50, n_resamples=200).set_index("group")
    for group in ("all", "F", "M"):
        row = table.loc[group]
        assert row["auroc_lo"] < row["auroc"] < row["auroc_hi"]
        assert row["brier_lo"] < row["brier"] < row["brier_hi"]
    # a group is wider than the whole: fewer stays, more uncertainty
    width = table["auroc_hi"] - table["auroc_lo"]
    assert width["F"] > width["all"] and width["M"] > width["all"]
    small = subgroup_table(big.head(60), columns=["sex"], min_count=50, n_resamples=50)
    assert small.loc[small["group"] != "all", "auroc_lo"].isna().all()  # no interval when too small
    assert "auroc_lo" not in subgroup_table(big, columns=["sex"]).columns  # opt-in
