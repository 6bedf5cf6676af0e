"""Binary-classification metrics as pure functions over arrays, chosen by name.

Every metric takes ``y_true`` (0/1) and ``y_prob`` (probabilities in [0, 1]) and returns a
float. Inputs are validated (shape, NaN/inf, label values, probability range) and a
:class:`~realm.errors.DataError` names the offending field. A metric that is *undefined* on
the given sample (e.g. AUROC when only one class is present) returns ``NaN`` instead of
raising, so that subgroup tables and bootstrap resamples can count such cases; each
function's docstring says when that happens.

Each ranking metric is written once, in a *weighted, batched* form: ``W`` is a matrix of
non-negative row weights, one row per evaluation. A plain call uses one row of ones; the
bootstrap (:mod:`realm.eval.bootstrap`) passes the multiplicity of every stay in each
resample, so 1,000 resamples cost a few array operations instead of 1,000 sorts, and the
hand-checked plain call and the bootstrap share the very same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from realm.errors import ConfigError, DataError

__all__ = [
    "auroc",
    "auprc",
    "min_se_ppv",
    "brier",
    "expected_calibration_error",
    "METRICS",
    "HIGHER_IS_BETTER",
    "compute_metrics",
    "validate_binary",
    "bin_ids",
    "resolve",
    "BATCHED",
]

Metric = Callable[[np.ndarray, np.ndarray], float]


# -- validation ---------------------------------------------------------------------------
def validate_binary(y_true: object, y_prob: object) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y_true, y_prob)`` as 1-D float arrays, or raise :class:`DataError`.

    ``y_true`` must hold only 0 and 1; ``y_prob`` finite values in [0, 1]; both the same
    non-zero length.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    if y.ndim != 1 or p.ndim != 1:
        raise DataError(f"expected 1-D arrays, got shapes {y.shape} and {p.shape}",
                        field="y_true/y_prob")
    if len(y) != len(p):
        raise DataError(f"length mismatch: {len(y)} labels, {len(p)} probabilities",
                        field="y_true/y_prob")
    if len(y) == 0:
        raise DataError("no rows to evaluate", field="y_true")
    if not np.isfinite(y).all() or not np.isin(y, (0.0, 1.0)).all():
        raise DataError("labels must be 0 or 1 (no NaN)", field="y_true")
    if not np.isfinite(p).all():
        raise DataError(f"{int((~np.isfinite(p)).sum())} probabilities are NaN or infinite",
                        field="y_prob")
    if (p < 0).any() or (p > 1).any():
        raise DataError("probabilities must lie in [0, 1]", field="y_prob")
    return y, p


def bin_ids(y_prob: np.ndarray, n_bins: int = 10, strategy: str = "uniform") -> np.ndarray:
    """Bin index (0..n_bins-1) of every probability.

    ``uniform``: equal-width bins on [0, 1], right edge included in the last bin.
    ``quantile``: equal-mass bins cut at the empirical quantiles of ``y_prob``; tied
    predictions always share a bin, so bins can hold unequal counts (or be empty).
    """
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ConfigError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(y_prob, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        raise ConfigError(f"unknown binning strategy {strategy!r}; use 'uniform' or 'quantile'")
    # Inner edges only: a value equal to an edge goes to the bin on its right, and the
    # clip puts p == 1 (or the maximum, for quantiles) into the last bin.
    return np.clip(np.searchsorted(edges[1:-1], y_prob, side="right"), 0, n_bins - 1)


# -- batched, weighted cores --------------------------------------------------------------
def _tie_groups(p_sorted: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])


def _auroc_w(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> np.ndarray:
    """AUROC per weight row; NaN where one class has zero weight."""
    order = np.argsort(p, kind="stable")
    starts = _tie_groups(p[order])
    Ws, ys = W[:, order], y[order]
    pos = np.add.reduceat(Ws * ys, starts, axis=1)  # (B, G) positive weight per tie group
    neg = np.add.reduceat(Ws * (1 - ys), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negative weight strictly below each group
    # Mann-Whitney: a positive beats every lower negative and half-beats a tied one.
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg), np.nan)


def _descending_counts(y: np.ndarray, p: np.ndarray, W: np.ndarray):
    """Cumulative TP and FP weight at each distinct threshold, highest threshold first."""
    order = np.argsort(-p, kind="stable")
    starts = _tie_groups(p[order])
    Ws, ys = W[:, order], y[order]
    pos = np.add.reduceat(Ws * ys, starts, axis=1)
    neg = np.add.reduceat(Ws * (1 - ys), starts, axis=1)
    return pos, np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)


def _auprc_w(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision per weight row; NaN where positives have zero weight."""
    pos, tp, fp = _descending_counts(y, p, W)
    n_pos = tp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (pos * precision).sum(axis=1) / n_pos
    return np.where(n_pos > 0, ap, np.nan)


def _min_se_ppv_w(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> np.ndarray:
    """max over thresholds of min(Se, +P) per weight row; NaN without positives."""
    _, tp, fp = _descending_counts(y, p, W)
    n_pos = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        se = tp / n_pos
        ppv = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        best = np.minimum(se, ppv).max(axis=1)
    return np.where(n_pos[:, 0] > 0, best, np.nan)


def _brier_w(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> np.ndarray:
    return W @ (p - y) ** 2 / W.sum(axis=1)


def _ece_w(y: np.ndarray, p: np.ndarray, W: np.ndarray, bins: np.ndarray,
           n_bins: int) -> np.ndarray:
    # Per bin, |sum w(p - y)| / sum w over all rows equals the bin's weight share times
    # |mean predicted - observed frequency|, so one matrix product gives every bin.
    onehot = np.zeros((len(p), n_bins))
    onehot[np.arange(len(p)), bins] = p - y
    return np.abs(W @ onehot).sum(axis=1) / W.sum(axis=1)


def _one(core: Callable[..., np.ndarray], y_true: object, y_prob: object, *extra) -> float:
    y, p = validate_binary(y_true, y_prob)
    return float(core(y, p, np.ones((1, len(y))), *extra)[0])


# -- public metrics -----------------------------------------------------------------------
def auroc(y_true: object, y_prob: object) -> float:
    """Area under the ROC curve; tied scores count one half (Mann-Whitney U / (P·N)).

    NaN when only one class is present (the ROC curve is undefined).
    """
    return _one(_auroc_w, y_true, y_prob)


def auprc(y_true: object, y_prob: object) -> float:
    """Average precision: sum over thresholds of (R_k - R_{k-1}) · P_k.

    This is scikit-learn's step-wise estimator (``average_precision_score``): precision
    is *not* interpolated, and tied scores form one threshold. Trapezoidal areas under
    the PR curve are optimistic and are deliberately not offered. NaN without positives.
    """
    return _one(_auprc_w, y_true, y_prob)


def min_se_ppv(y_true: object, y_prob: object, threshold: float | None = None) -> float:
    """The PhysioNet/CinC Challenge 2012 event-1 score, min(Se, +P).

    The challenge scored binary predictions: Se = TP / (TP + FN), +P = TP / (TP + FP) and
    the score is the smaller of the two. Given a ``threshold``, a stay is predicted
    positive when ``y_prob >= threshold`` and that exact score is returned. Without one
    (the default, as in most papers that report it for probabilistic models) the score
    is the maximum over all thresholds -- the best a threshold chosen on this very sample
    could reach, hence slightly optimistic. +P counts as 0 when nothing is predicted
    positive. NaN without positives.
    """
    if threshold is None:
        return _one(_min_se_ppv_w, y_true, y_prob)
    y, p = validate_binary(y_true, y_prob)
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"threshold must lie in [0, 1], got {threshold!r}")
    if y.sum() == 0:
        return float("nan")
    pred = p >= threshold
    tp = float((pred & (y == 1)).sum())
    ppv = tp / pred.sum() if pred.any() else 0.0
    return min(tp / y.sum(), ppv)


def brier(y_true: object, y_prob: object) -> float:
    """Brier score: mean squared difference between probability and outcome (lower is better)."""
    return _one(_brier_w, y_true, y_prob)


def expected_calibration_error(y_true: object, y_prob: object, n_bins: int = 10,
                               strategy: str = "uniform") -> float:
    """Expected calibration error: sum over bins of (n_b / n) · |mean p_b - mean y_b|.

    ``strategy="uniform"`` (default) uses ``n_bins`` equal-width bins on [0, 1];
    ``"quantile"`` uses equal-mass bins (see :func:`bin_ids`). Empty bins contribute 0.
    """
    y, p = validate_binary(y_true, y_prob)
    return float(_ece_w(y, p, np.ones((1, len(y))), bin_ids(p, n_bins, strategy), n_bins)[0])


# -- registry -----------------------------------------------------------------------------
METRICS: dict[str, Metric] = {
    "auroc": auroc,
    "auprc": auprc,
    "min_se_ppv": min_se_ppv,
    "brier": brier,
    "ece": expected_calibration_error,
}

#: Direction of each registered metric (paired comparisons need it).
HIGHER_IS_BETTER: dict[str, bool] = {
    "auroc": True, "auprc": True, "min_se_ppv": True, "brier": False, "ece": False,
}

#: Batched, weighted forms of the registered metrics, used by the bootstrap.
BATCHED: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "auroc": _auroc_w,
    "auprc": _auprc_w,
    "min_se_ppv": _min_se_ppv_w,
    "brier": _brier_w,
    "ece": lambda y, p, W: _ece_w(y, p, W, bin_ids(p, 10, "uniform"), 10),
}


def resolve(names: Sequence[str] | str) -> list[str]:
    """Check metric names against :data:`METRICS`; raise :class:`ConfigError` if unknown."""
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ConfigError("no metrics requested")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}")
    return names


def compute_metrics(y_true: object, y_prob: object,
                    names: Sequence[str] = ("auroc", "auprc", "min_se_ppv", "brier", "ece"),
                    ) -> dict[str, float]:
    """Compute the named metrics (keys of :data:`METRICS`) into a ``{name: value}`` dict."""
    chosen = resolve(names)
    y, p = validate_binary(y_true, y_prob)
    return {name: float(METRICS[name](y, p)) for name in chosen}
