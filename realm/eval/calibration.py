"""Calibration: logistic recalibration slope and intercept, and reliability-curve data.

Definitions (Van Calster et al., "Calibration: the Achilles heel of predictive
analytics", BMC Medicine 2019), with ``lp = logit(p)``:

- **slope**: the coefficient ``b`` of ``logit P(y=1) = a + b · lp``, both fitted. ``b < 1``
  means predictions are too extreme (over-confident), ``b > 1`` too moderate.
- **intercept** (calibration-in-the-large): ``a`` in ``logit P(y=1) = a + lp``, i.e. with
  ``lp`` as an offset and the slope fixed at 1. ``a > 0`` means risks are underestimated
  on average, ``a < 0`` overestimated.

Both are maximum-likelihood fits by Newton's method in numpy (two parameters at most, so
no solver library is needed, and no penalty biases the slope toward 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realm.errors import ConfigError
from realm.eval.metrics import bin_ids, validate_binary

__all__ = ["CalibrationFit", "calibration_fit", "calibration_slope", "calibration_intercept",
           "ReliabilityCurve", "reliability_curve"]

#: Probabilities are clipped to [EPS, 1 - EPS] before the logit, so a prediction of
#: exactly 0 or 1 gives a large finite log-odds instead of infinity.
EPS = 1e-6


@dataclass(frozen=True)
class CalibrationFit:
    """Result of the logistic recalibration; NaN fields when the fit is undefined."""

    slope: float
    intercept: float
    converged: bool
    reason: str = ""


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1 - EPS)
    return np.log(q / (1 - q))


def _newton(X: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iter: int = 50,
            tol: float = 1e-10) -> tuple[np.ndarray, bool]:
    """Maximum-likelihood logistic regression ``y ~ X @ beta + offset`` by Newton-Raphson."""
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        eta = X @ beta + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        grad = X.T @ (y - mu)
        hess = (X * (mu * (1 - mu))[:, None]).T @ X
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return beta, False
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            return beta, True
    return beta, False


def calibration_fit(y_true: object, y_prob: object) -> CalibrationFit:
    """Calibration slope and intercept (see the module docstring for the definitions).

    Undefined (NaN, with ``reason``) when only one class is present or all predictions
    are equal; ``converged`` is False when the outcome is perfectly separated by the
    predictions, in which case the slope diverges and should not be reported.
    """
    y, p = validate_binary(y_true, y_prob)
    if y.min() == y.max():
        return CalibrationFit(np.nan, np.nan, False, "only one class present")
    lp = _logit(p)
    if np.ptp(lp) == 0:
        return CalibrationFit(np.nan, np.nan, False, "all predictions are equal")
    ones = np.ones((len(y), 1))
    (a_fixed,), ok_a = _newton(ones, y, lp)
    (_, slope), ok_b = _newton(np.column_stack([ones, lp]), y, np.zeros(len(y)))
    ok = ok_a and ok_b
    return CalibrationFit(float(slope), float(a_fixed), ok,
                          "" if ok else "Newton did not converge (separated outcome?)")


def calibration_slope(y_true: object, y_prob: object) -> float:
    """Calibration slope; NaN when undefined or not converged."""
    fit = calibration_fit(y_true, y_prob)
    return fit.slope if fit.converged else float("nan")


def calibration_intercept(y_true: object, y_prob: object) -> float:
    """Calibration-in-the-large (slope fixed at 1); NaN when undefined or not converged."""
    fit = calibration_fit(y_true, y_prob)
    return fit.intercept if fit.converged else float("nan")


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin data for a reliability diagram; empty bins hold NaN means and count 0."""

    bin_edges: np.ndarray  # (n_bins + 1,)
    mean_predicted: np.ndarray  # (n_bins,)
    observed_frequency: np.ndarray  # (n_bins,)
    counts: np.ndarray  # (n_bins,) int

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists (JSON-ready; NaN stays NaN)."""
        return {k: getattr(self, k).tolist()
                for k in ("bin_edges", "mean_predicted", "observed_frequency", "counts")}


def reliability_curve(y_true: object, y_prob: object, n_bins: int = 10,
                      strategy: str = "uniform") -> ReliabilityCurve:
    """Mean predicted probability, observed event rate and count in each bin.

    Bins as in :func:`realm.eval.metrics.bin_ids` (equal-width by default, or
    ``"quantile"`` for equal-mass), so the curve matches the ECE computed with them.
    """
    y, p = validate_binary(y_true, y_prob)
    if strategy not in ("uniform", "quantile"):
        raise ConfigError(f"unknown binning strategy {strategy!r}; use 'uniform' or 'quantile'")
    ids = bin_ids(p, n_bins, strategy)
    edges = (np.linspace(0.0, 1.0, n_bins + 1) if strategy == "uniform"
             else np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    counts = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(ids, weights=p, minlength=n_bins) / counts
        freq = np.bincount(ids, weights=y, minlength=n_bins) / counts
    return ReliabilityCurve(edges, mean_p, freq, counts.astype(int))
