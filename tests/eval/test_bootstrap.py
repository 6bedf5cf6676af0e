"""Patient-level bootstrap: reproducible, subject-level, honest about undefined resamples."""

from __future__ import annotations

import numpy as np
import pytest

from realm.errors import ConfigError, DataError
from realm.eval.bootstrap import bootstrap_ci, paired_bootstrap_diff, resample_weights
from realm.eval.metrics import BATCHED, auprc, auroc, brier, min_se_ppv


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, p


def test_same_seed_reproduces_exactly_and_other_seed_differs() -> None:
    y, p = _data()
    groups = np.arange(len(y)) // 2
    a = bootstrap_ci(y, p, groups, n_resamples=300, seed=5)
    b = bootstrap_ci(y, p, groups, n_resamples=300, seed=5)
    c = bootstrap_ci(y, p, groups, n_resamples=300, seed=6)
    assert a == b
    assert a["auroc"]["ci95"] != c["auroc"]["ci95"]
    assert a["auroc"]["value"] == pytest.approx(auroc(y, p))
    assert set(a) == {"auroc", "auprc", "min_se_ppv", "brier"}


@pytest.mark.parametrize(("name", "fn"), [("auroc", auroc), ("auprc", auprc),
                                          ("min_se_ppv", min_se_ppv), ("brier", brier)])
def test_weights_equal_repeating_rows(name: str, fn) -> None:
    # A weight of k must mean exactly "this row k times", ties included.
    y, p = _data(60, seed=2)
    p = np.round(p, 1)
    codes = np.arange(60) // 3
    W = next(resample_weights(codes, 5, np.random.default_rng(0)))
    batched = BATCHED[name](y.astype(float), p, W)
    for b in range(5):
        idx = np.repeat(np.arange(60), W[b].astype(int))
        assert batched[b] == pytest.approx(fn(y[idx], p[idx]), abs=1e-12)


def test_resample_weights_draw_whole_subjects() -> None:
    codes = np.array([0, 0, 0, 1, 2, 2])
    for W in resample_weights(codes, 50, np.random.default_rng(1)):
        assert (W[:, 0] == W[:, 1]).all() and (W[:, 1] == W[:, 2]).all()
        assert (W[:, 4] == W[:, 5]).all()
        # three subjects drawn per resample
        assert (W[:, [0, 3, 4]].sum(axis=1) == 3).all()


def test_subject_level_intervals_are_wider_for_correlated_rows() -> None:
    # 60 subjects with 10 identical stays each: only 60 independent units, not 600.
    y0, p0 = _data(60, seed=4)
    y, p, groups = np.repeat(y0, 10), np.repeat(p0, 10), np.repeat(np.arange(60), 10)
    by_subject = bootstrap_ci(y, p, groups, "auroc", n_resamples=400, seed=0)["auroc"]["ci95"]
    by_row = bootstrap_ci(y, p, None, "auroc", n_resamples=400, seed=0)["auroc"]["ci95"]
    width_subject, width_row = by_subject[1] - by_subject[0], by_row[1] - by_row[0]
    # independence would shrink the width by about sqrt(10) ~ 3.2
    assert width_subject > 2 * width_row


def test_undefined_resamples_are_skipped_and_counted() -> None:
    # 3 subjects, one positive: AUROC is undefined when the positive subject is never
    # drawn, (2/3)^3 = 8/27, or drawn three times, (1/3)^3 = 1/27: 9/27 = 1/3 of resamples.
    out = bootstrap_ci([1, 0, 0], [0.9, 0.2, 0.4], [10, 11, 12], ("auroc", "brier"),
                       n_resamples=3000, seed=0)
    assert out["auroc"]["n_resamples_used"] + out["auroc"]["n_resamples_undefined"] == 3000
    assert out["auroc"]["n_resamples_undefined"] / 3000 == pytest.approx(1 / 3, abs=0.03)
    assert out["brier"]["n_resamples_undefined"] == 0


def test_custom_callable_matches_registered_metric() -> None:
    y, p = _data(80, seed=3)
    groups = np.arange(80) // 4
    custom = bootstrap_ci(y, p, groups, {"my_brier": lambda a, b: brier(a, b)},
                          n_resamples=100, seed=9)["my_brier"]
    builtin = bootstrap_ci(y, p, groups, "brier", n_resamples=100, seed=9)["brier"]
    assert custom["ci95"] == pytest.approx(builtin["ci95"], abs=1e-12)


def test_interval_key_follows_alpha_and_options_are_checked() -> None:
    y, p = _data(50)
    out = bootstrap_ci(y, p, None, "brier", n_resamples=50, alpha=0.1)
    assert "ci90" in out["brier"]
    with pytest.raises(ConfigError):
        bootstrap_ci(y, p, None, "brier", n_resamples=0)
    with pytest.raises(ConfigError):
        bootstrap_ci(y, p, None, "accuracy")
    with pytest.raises(DataError):
        bootstrap_ci(y, p, np.arange(49), "brier")
    with pytest.raises(DataError):
        bootstrap_ci(y, p, [np.nan] + list(range(49)), "brier")


def test_paired_difference_direction_and_p_value() -> None:
    y, p_good = _data(300, seed=8)
    p_bad = np.random.default_rng(1).random(300)
    out = paired_bootstrap_diff(y, p_good, p_bad, np.arange(300), ("auroc", "brier"),
                                n_resamples=300, seed=0)
    assert out["auroc"]["value"] == pytest.approx(auroc(y, p_good) - auroc(y, p_bad))
    assert out["auroc"]["value"] > 0 and out["auroc"]["ci95"][0] > 0
    assert out["auroc"]["p_value"] == 0.0
    # Brier: lower is better, so the better model has a negative difference and p = 0.
    assert out["brier"]["value"] < 0 and out["brier"]["p_value"] == 0.0
    reverse = paired_bootstrap_diff(y, p_bad, p_good, None, "auroc", n_resamples=300)
    assert reverse["auroc"]["p_value"] == 1.0


def test_paired_identical_models_differ_by_exactly_zero() -> None:
    y, p = _data(100)
    out = paired_bootstrap_diff(y, p, p.copy(), None, "auprc", n_resamples=100)["auprc"]
    assert out["value"] == 0.0 and out["ci95"] == [0.0, 0.0]
    assert out["p_value"] == 1.0  # "A is not better" in every resample
