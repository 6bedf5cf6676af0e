"""Every metric against a hand computation on a tiny fixture."""

from __future__ import annotations

import numpy as np
import pytest

from realm.errors import ConfigError, DataError
from realm.eval.metrics import (
    METRICS,
    auprc,
    auroc,
    bin_ids,
    brier,
    compute_metrics,
    expected_calibration_error,
    min_se_ppv,
)


def test_auroc_counts_ties_as_half() -> None:
    # positives 0.4, 0.8, 0.9; negatives 0.1, 0.4, 0.2: 2.5 + 3 + 3 of 9 pairs.
    y = [0, 0, 1, 1, 0, 1]
    p = [0.1, 0.4, 0.4, 0.8, 0.2, 0.9]
    assert auroc(y, p) == pytest.approx(8.5 / 9)


def test_auroc_perfect_and_reversed() -> None:
    assert auroc([0, 0, 1], [0.1, 0.2, 0.3]) == 1.0
    assert auroc([0, 0, 1], [0.3, 0.2, 0.1]) == 0.0


def test_average_precision_is_step_wise_not_interpolated() -> None:
    # ranks: + (P=1, R=.5), -, + (P=2/3, R=1): AP = .5*1 + .5*2/3.
    assert auprc([1, 0, 1, 0, 0], [0.9, 0.8, 0.7, 0.6, 0.5]) == pytest.approx(5 / 6)


def test_average_precision_tied_scores_form_one_threshold() -> None:
    # threshold .5: TP 1, FP 1 (P .5, R .5); threshold .2: TP 2, FP 1 (P 2/3, R 1).
    assert auprc([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


Y8 = [1, 1, 0, 1, 0, 0, 0, 1]
P8 = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]


def test_min_se_ppv_best_threshold() -> None:
    # at p >= 0.6: TP 3, FP 1, FN 1 -> Se = +P = 0.75, the best over thresholds.
    assert min_se_ppv(Y8, P8) == pytest.approx(0.75)


def test_min_se_ppv_fixed_threshold_is_the_challenge_score() -> None:
    assert min_se_ppv(Y8, P8, threshold=0.6) == pytest.approx(0.75)
    assert min_se_ppv(Y8, P8, threshold=0.85) == pytest.approx(0.25)  # Se 1/4, +P 1
    assert min_se_ppv(Y8, P8, threshold=0.5) == pytest.approx(0.6)  # Se 3/4, +P 3/5
    assert min_se_ppv(Y8, P8, threshold=0.95) == 0.0  # nothing predicted positive
    with pytest.raises(ConfigError):
        min_se_ppv(Y8, P8, threshold=1.5)


def test_brier() -> None:
    assert brier([1, 0, 1, 0], [0.8, 0.3, 0.4, 0.0]) == pytest.approx((0.04 + 0.09 + 0.36) / 4)


Y5 = [0, 1, 0, 1, 1]
P5 = [0.05, 0.15, 0.32, 0.38, 0.95]


def test_ece_equal_width_bins() -> None:
    # bins [0,.1): |.05-0|; [.1,.2): |.15-1|; [.3,.4): 2 x |.35-.5|; [.9,1]: |.95-1|.
    expected = (0.05 + 0.85 + 2 * 0.15 + 0.05) / 5
    assert expected_calibration_error(Y5, P5) == pytest.approx(expected)


def test_ece_equal_mass_bins() -> None:
    # two bins cut at the median 0.32: {.05, .15} and {.32, .38, .95}.
    expected = (2 * abs(0.1 - 0.5) + 3 * abs(0.55 - 2 / 3)) / 5
    assert expected_calibration_error(Y5, P5, n_bins=2, strategy="quantile") == pytest.approx(
        expected)


def test_bin_edges_go_right_and_one_is_in_last_bin() -> None:
    assert bin_ids(np.array([0.0, 0.1, 0.0999, 1.0]), 10).tolist() == [0, 1, 0, 9]
    with pytest.raises(ConfigError):
        bin_ids(np.array([0.5]), 10, "kmeans")


def test_single_class_gives_nan_where_undefined() -> None:
    assert np.isnan(auroc([1, 1], [0.2, 0.3]))
    assert np.isnan(auprc([0, 0], [0.2, 0.3]))
    assert np.isnan(min_se_ppv([0, 0], [0.2, 0.3]))
    assert brier([1, 1], [1.0, 0.5]) == pytest.approx(0.125)


@pytest.mark.parametrize(
    ("y", "p"),
    [
        ([0, 1], [0.2, np.nan]),
        ([0, 1], [0.2, np.inf]),
        ([0, 1], [0.2, 1.2]),
        ([0, 2], [0.2, 0.3]),
        ([0, np.nan], [0.2, 0.3]),
        ([0, 1, 1], [0.2, 0.3]),
        ([[0, 1]], [[0.2, 0.3]]),
        ([], []),
    ],
)
def test_bad_inputs_raise_data_error(y: list, p: list) -> None:
    with pytest.raises(DataError):
        auroc(y, p)


def test_compute_metrics_by_name() -> None:
    out = compute_metrics([1, 0, 1, 0], [0.8, 0.3, 0.4, 0.0], names=("brier", "auroc"))
    assert list(out) == ["brier", "auroc"]
    assert out["auroc"] == 1.0
    assert out["brier"] == pytest.approx(0.1225)
    assert set(METRICS) >= {"auroc", "auprc", "min_se_ppv", "brier", "ece"}
    with pytest.raises(ConfigError, match="unknown metric"):
        compute_metrics([1, 0], [0.8, 0.3], names=("accuracy",))


def test_agrees_with_sklearn_on_random_tied_data() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300), 1)  # many ties
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert auprc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
