"""Bootstrap intervals of the calibration slope and intercept, on the bootstrap's own draws.

:func:`realm.eval.bootstrap.bootstrap_ci` accepts custom metrics, but runs them once per
resample on repeated rows: two Newton fits x 1,000 resamples x every model and task took
about a minute. Here the logistic recalibration is fitted for *all* resamples at once, by
a batched, weighted Newton-Raphson on the bootstrap multiplicities (the same weights
:func:`realm.eval.bootstrap.resample_weights` draws for the other metrics with the same
seed, so every interval of a model comes from the same resamples). Definitions are those
of :mod:`realm.eval.calibration`, and the point estimates are its own.
"""

from __future__ import annotations

import numpy as np

from realm.eval.bootstrap import _group_codes, resample_weights
from realm.eval.calibration import EPS, calibration_fit
from realm.eval.metrics import validate_binary

__all__ = ["calibration_ci", "weighted_calibration"]

MAX_ITER = 50
TOL = 1e-8


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def weighted_calibration(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and intercept (each (B,)) for every weight row of ``W`` (B, n).

    NaN where the fit is undefined (one class has zero weight, or all weighted
    predictions are equal) or Newton does not converge (a separated resample): the
    same cases in which :func:`realm.eval.calibration.calibration_slope` gives NaN.
    """
    q = np.clip(p, EPS, 1 - EPS)
    lp = np.log(q / (1 - q))  # (n,)
    X = np.column_stack([np.ones_like(lp), lp])  # (n, 2)
    b = W.shape[0]
    pos, tot = W @ y, W.sum(axis=1)
    present = W > 0
    spread = np.where(present, lp, np.inf).min(axis=1) < np.where(present, lp, -np.inf).max(axis=1)
    defined = (pos > 0) & (pos < tot) & spread

    beta, done = np.zeros((b, 2)), ~defined
    for _ in range(MAX_ITER):
        mu = _sigmoid(beta @ X.T)  # (B, n)
        grad = (W * (y - mu)) @ X  # (B, 2)
        hess = np.einsum("bn,ni,nj->bij", W * mu * (1 - mu), X, X)  # (B, 2, 2)
        det = hess[:, 0, 0] * hess[:, 1, 1] - hess[:, 0, 1] ** 2
        ok = ~done & (np.abs(det) > 1e-12)
        step = np.zeros_like(beta)
        # closed-form 2x2 solve: a singular Hessian in one resample cannot stop the others
        step[ok, 0] = (hess[ok, 1, 1] * grad[ok, 0] - hess[ok, 0, 1] * grad[ok, 1]) / det[ok]
        step[ok, 1] = (hess[ok, 0, 0] * grad[ok, 1] - hess[ok, 1, 0] * grad[ok, 0]) / det[ok]
        beta += step
        done |= ok & (np.abs(step).max(axis=1) < TOL)
        if done.all():
            break
    slope = np.where(defined & done, beta[:, 1], np.nan)

    a, done_a = np.zeros(b), ~defined
    for _ in range(MAX_ITER):
        mu = _sigmoid(a[:, None] + lp[None, :])
        grad, hess = (W * (y - mu)).sum(axis=1), (W * mu * (1 - mu)).sum(axis=1)
        ok = ~done_a & (hess > 1e-12)
        step = np.where(ok, grad / np.where(ok, hess, 1.0), 0.0)
        a += step
        done_a |= ok & (np.abs(step) < TOL)
        if done_a.all():
            break
    # the slope fit failing (separation) makes calibration_fit report both as unconverged
    intercept = np.where(defined & done_a & np.isfinite(slope), a, np.nan)
    return slope, intercept


def calibration_ci(y_true: object, y_prob: object, groups: object | None = None, *,
                   n_resamples: int = 1000, alpha: float = 0.05,
                   seed: int = 0) -> dict[str, dict[str, object]]:
    """``{"calibration_slope": {...}, "calibration_intercept": {...}}`` in the format of
    :func:`realm.eval.bootstrap.bootstrap_ci` (value, ci95, resamples used/undefined)."""
    y, p = validate_binary(y_true, y_prob)
    codes = _group_codes(groups, len(y))
    fit = calibration_fit(y, p)
    point = {"calibration_slope": fit.slope if fit.converged else np.nan,
             "calibration_intercept": fit.intercept if fit.converged else np.nan}
    rng = np.random.default_rng(seed)
    slopes, intercepts = [], []
    for W in resample_weights(codes, n_resamples, rng):
        s, i = weighted_calibration(y, p, W)
        slopes.append(s)
        intercepts.append(i)
    key = f"ci{100 * (1 - alpha):g}".replace(".", "_")
    out: dict[str, dict[str, object]] = {}
    for name, reps in (("calibration_slope", np.concatenate(slopes)),
                       ("calibration_intercept", np.concatenate(intercepts))):
        ok = reps[np.isfinite(reps)]
        lo, hi = (np.percentile(ok, [50 * alpha, 100 - 50 * alpha]) if len(ok)
                  else (np.nan, np.nan))
        out[name] = {"value": float(point[name]), key: [float(lo), float(hi)],
                     "n_resamples_used": int(len(ok)),
                     "n_resamples_undefined": int(n_resamples - len(ok))}
    return out
