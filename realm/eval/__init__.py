"""realm.eval: metrics, patient-level bootstrap intervals, calibration and subgroup tables."""

from realm.eval.bootstrap import bootstrap_ci, paired_bootstrap_diff
from realm.eval.calibration import (
    CalibrationFit,
    ReliabilityCurve,
    calibration_fit,
    calibration_intercept,
    calibration_slope,
    reliability_curve,
)
from realm.eval.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    auprc,
    auroc,
    brier,
    compute_metrics,
    expected_calibration_error,
    min_se_ppv,
)
from realm.eval.subgroups import AGE_BANDS, age_band, subgroup_table

__all__ = [
    "auroc",
    "auprc",
    "min_se_ppv",
    "brier",
    "expected_calibration_error",
    "METRICS",
    "HIGHER_IS_BETTER",
    "compute_metrics",
    "bootstrap_ci",
    "paired_bootstrap_diff",
    "CalibrationFit",
    "calibration_fit",
    "calibration_slope",
    "calibration_intercept",
    "ReliabilityCurve",
    "reliability_curve",
    "AGE_BANDS",
    "age_band",
    "subgroup_table",
]
