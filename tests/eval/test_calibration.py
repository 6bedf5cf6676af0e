"""Calibration slope/intercept on simulated data and reliability bins by hand."""

from __future__ import annotations

import numpy as np
import pytest

from realm.eval.calibration import (
    calibration_fit,
    calibration_intercept,
    calibration_slope,
    reliability_curve,
)


def _simulate(n: int = 100_000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.5, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return y, lp


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_perfectly_calibrated_gives_slope_one_intercept_zero() -> None:
    y, lp = _simulate()
    fit = calibration_fit(y, _sigmoid(lp))
    assert fit.converged
    assert fit.slope == pytest.approx(1.0, abs=0.03)
    assert fit.intercept == pytest.approx(0.0, abs=0.03)


def test_overconfident_predictions_have_slope_below_one() -> None:
    y, lp = _simulate()
    # log-odds doubled: too extreme, so the recalibration slope is about 1/2.
    assert calibration_slope(y, _sigmoid(2 * lp)) == pytest.approx(0.5, abs=0.03)


def test_underestimated_risk_has_positive_intercept() -> None:
    y, lp = _simulate()
    assert calibration_intercept(y, _sigmoid(lp - 1.0)) == pytest.approx(1.0, abs=0.04)


def test_slope_matches_unpenalized_sklearn_fit() -> None:
    from sklearn.linear_model import LogisticRegression

    y, lp = _simulate(n=2000, seed=1)
    p = _sigmoid(0.7 * lp + 0.3)
    ref = LogisticRegression(C=1e12, tol=1e-10, max_iter=1000).fit(np.log(p / (1 - p))[:, None], y)
    assert calibration_slope(y, p) == pytest.approx(ref.coef_[0, 0], rel=1e-4)


def test_undefined_cases_are_nan_with_a_reason() -> None:
    fit = calibration_fit([1, 1, 1], [0.2, 0.5, 0.7])
    assert np.isnan(fit.slope) and fit.reason == "only one class present"
    assert np.isnan(calibration_fit([0, 1], [0.3, 0.3]).slope)
    # perfect separation: the slope diverges, so it is not reported.
    assert np.isnan(calibration_slope([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]))


def test_reliability_curve_hand_binned() -> None:
    curve = reliability_curve([0, 1, 0, 1, 1], [0.05, 0.15, 0.32, 0.38, 0.95])
    assert curve.counts.tolist() == [1, 1, 0, 2, 0, 0, 0, 0, 0, 1]
    assert curve.mean_predicted[3] == pytest.approx(0.35)
    assert curve.observed_frequency[3] == pytest.approx(0.5)
    assert curve.observed_frequency[1] == 1.0
    assert np.isnan(curve.mean_predicted[2]) and np.isnan(curve.observed_frequency[2])
    assert len(curve.bin_edges) == 11
    assert curve.to_dict()["counts"][3] == 2
