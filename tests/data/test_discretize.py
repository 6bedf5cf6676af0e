"""The discretizer on a hand-built cohort: every value below is worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realm.data.cohort import Cohort
from realm.data.discretize import DiscretizerConfig, discretize, discretize_dir
from realm.errors import ConfigError, DataError
from realm.resources import load_variables

CFG = DiscretizerConfig(bin_hours=1.0, window_hours=4.0)


def _cohort(events: list[tuple[int, float, str, float]], val_hr: float = 100.0) -> Cohort:
    stays = pd.DataFrame({
        "stay_id": [1, 2, 3], "subject_id": [1, 2, 3], "source": "test",
        "split": ["train", "train", "val"], "age": [60.0, 80.0, 20.0],
        "sex": ["F", "M", None], "icu_type": ["MICU", "SICU", "CCU"],
        "height": [170.0, None, 150.0], "weight": [70.0, 90.0, 50.0],
        "los_hours": 50.0,  # cohort.conform cannot add a missing float column (pandas 3)
    })
    rows = events + [(3, 0.5, "heart_rate", val_hr)]
    ev = pd.DataFrame(rows, columns=["stay_id", "hours", "variable", "value"])
    labels = pd.DataFrame({"stay_id": [1, 2, 3], "mortality": [0, 1, 0]})
    notes = pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")})
    return Cohort(stays=stays, events=ev, notes=notes, labels=labels, meta={"source": "test"})


EVENTS = [
    (1, 0.2, "heart_rate", 80.0),
    (1, 0.7, "heart_rate", 90.0),  # same bin, later: wins
    (1, 2.5, "heart_rate", 400.0),  # above valid_high 350: dropped, counted
    (1, 2.0, "gcs_eye", 3.0),
    (1, 9.0, "heart_rate", 10.0),  # after the 4 h window: ignored
    (2, 1.5, "heart_rate", 110.0),
    (2, 3.1, "sodium", 20.0),  # below valid_low 50: dropped, counted
    (2, 3.2, "sodium", 140.0),
]


def test_last_value_forward_fill_masks_and_deltas() -> None:
    t = discretize(_cohort(EVENTS), CFG)
    assert t.variable_names == ["heart_rate", "gcs_eye", "sodium"]
    hr = t.feature_names.index("heart_rate")
    mean, std = t.stats["heart_rate"]["mean"], t.stats["heart_rate"]["std"]
    # Train observations after binning: stay 1 bin 0 = 90, stay 2 bin 1 = 110.
    assert mean == pytest.approx(100.0) and std == pytest.approx(10.0)
    raw_hr = t.values[0, :, hr] * std + mean
    np.testing.assert_allclose(raw_hr, [90, 90, 90, 90], rtol=1e-6)  # last in bin, ffilled
    raw_hr2 = t.values[1, :, hr] * std + mean
    normal = load_variables()["heart_rate"].normal
    np.testing.assert_allclose(raw_hr2, [normal, 110, 110, 110], rtol=1e-6)
    np.testing.assert_array_equal(t.masks[0, :, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(t.masks[1, :, 0], [0, 1, 0, 0])
    np.testing.assert_array_equal(t.deltas[0, :, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(t.deltas[1, :, 0], [4, 0, 1, 2])  # capped before first
    assert t.masks[1, 3, 2] == 1  # sodium 140 observed in bin 3, 20 dropped
    assert t.values.dtype == np.float32 and np.isfinite(t.values).all()


def test_out_of_bounds_and_late_events_are_counted() -> None:
    t = discretize(_cohort(EVENTS), CFG)
    counts = t.quality.to_dict()["problems"]
    by = {(p["field"], p["reason"]): p["count"] for p in counts}
    assert by[("heart_rate", "out_of_bounds")] == 1
    assert by[("sodium", "out_of_bounds")] == 1
    assert by[("hours", "after_window")] == 1
    assert t.masks[0, 2:, 0].sum() == 0  # the 400 bpm value left no observation


def test_categorical_one_hot_with_normal_before_first_observation() -> None:
    t = discretize(_cohort(EVENTS), CFG)
    eye = [t.feature_names.index(f"gcs_eye={c}") for c in (1, 2, 3, 4)]
    # Normal eye score 4 before hour 2, observed 3 from bin 2 on.
    np.testing.assert_array_equal(t.values[0][:, eye], [[0, 0, 0, 1], [0, 0, 0, 1],
                                                        [0, 0, 1, 0], [0, 0, 1, 0]])
    assert "gcs_eye" not in t.stats  # categorical: never z-normalized


def test_normalization_uses_train_split_only() -> None:
    a = discretize(_cohort(EVENTS, val_hr=100.0), CFG)
    b = discretize(_cohort(EVENTS, val_hr=300.0), CFG)
    assert a.stats == b.stats
    hr = a.feature_names.index("heart_rate")
    assert b.values[2, 0, hr] == pytest.approx((300 - 100) / 10)


def test_statics_layout() -> None:
    t = discretize(_cohort(EVENTS), CFG)
    assert t.static_names == ["age", "height", "height_missing", "weight", "weight_missing",
                              "sex=F", "sex=M", "icu_type=MICU", "icu_type=SICU"]
    assert t.statics[1, t.static_names.index("height_missing")] == 1
    assert t.statics[1, t.static_names.index("height")] == 0  # train-mean imputed
    assert t.statics[2, 5:].sum() == 0  # sex missing; CCU unseen in train: no column
    np.testing.assert_allclose(t.statics[:2, 0], [-1, 1])  # ages 60, 80 -> z


def test_bad_configs_raise() -> None:
    with pytest.raises(ConfigError, match="unknown variables"):
        discretize(_cohort(EVENTS), DiscretizerConfig(variables=("heart_rate", "nope")))
    with pytest.raises(ConfigError, match="impute"):
        DiscretizerConfig(impute="mean")
    cohort = _cohort(EVENTS)
    cohort.stays["split"] = "test"
    with pytest.raises(DataError, match="train split"):
        discretize(cohort, CFG)


def test_explicit_variables_keep_unseen_ones() -> None:
    t = discretize(_cohort(EVENTS), DiscretizerConfig(window_hours=4.0,
                                                     variables=("lactate", "heart_rate")))
    assert t.variable_names == ["heart_rate", "lactate"]  # variables.csv order
    assert t.masks[:, :, 1].sum() == 0
    assert np.isfinite(t.values).all()


def _entries(folder: Path) -> list[Path]:
    """The cached results in ``folder`` (the cache keeps a hidden lock file beside each)."""
    return [p for p in folder.iterdir() if not p.name.startswith(".")]


def test_cache_is_reused_and_keyed_by_config(tmp_path: Path) -> None:
    _cohort(EVENTS).save(tmp_path / "cohort")
    first = discretize_dir(tmp_path / "cohort", CFG, cache_root=tmp_path / "cache")
    written = _entries(tmp_path / "cache" / "tensors")
    assert len(written) == 1
    stamp = (written[0] / "arrays.npz").stat().st_mtime_ns
    again = discretize_dir(tmp_path / "cohort", CFG, cache_root=tmp_path / "cache")
    assert (written[0] / "arrays.npz").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(first.values, again.values)
    assert again.quality.to_dict() == first.quality.to_dict()
    assert again.feature_names == first.feature_names
    discretize_dir(tmp_path / "cohort", DiscretizerConfig(window_hours=2.0),
                   cache_root=tmp_path / "cache")
    assert len(_entries(tmp_path / "cache" / "tensors")) == 2


def test_log_scale_variables_are_log_normal_ratio_before_normalizing() -> None:
    # lactate is a log-scale variable (normal 1.5): the model reads log1p(value / 1.5)
    events = [(1, 0.5, "lactate", 1.5), (2, 0.5, "lactate", 15.0), (3, 0.5, "lactate", 30.0)]
    t = discretize(_cohort(events), CFG)
    j = t.feature_names.index("lactate")
    train = np.log1p(np.array([1.5, 15.0]) / 1.5)  # stays 1 and 2 are the train split
    assert t.stats["lactate"] == pytest.approx({"mean": train.mean(), "std": train.std()})
    expected = (np.log1p(30.0 / 1.5) - train.mean()) / train.std()
    assert t.values[2, 0, j] == pytest.approx(expected, rel=1e-5)
    # before the first observation: the normal value, on the same scale (log1p(1))
    t_late = discretize(_cohort([(1, 2.5, "lactate", 3.0), (2, 0.5, "lactate", 15.0)]), CFG)
    st = t_late.stats["lactate"]
    assert t_late.values[0, 0, j] == pytest.approx((np.log1p(1.0) - st["mean"]) / st["std"], rel=1e-5)
    linear = discretize(_cohort(events), DiscretizerConfig(bin_hours=1.0, window_hours=4.0, scales=False))
    assert linear.stats["lactate"]["mean"] == pytest.approx(np.mean([1.5, 15.0]))
    assert load_variables()["heart_rate"].scale == "linear"


def test_unknown_or_unusable_scale_is_refused(tmp_path: Path) -> None:
    from realm.resources import resource_path

    table = pd.read_csv(resource_path("variables.csv"), dtype=str, keep_default_na=False)
    bad = table.copy()
    bad.loc[bad["variable"] == "lactate", "scale"] = "sqrt"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="scale") as err:
        load_variables(str(tmp_path / "bad.csv"))
    assert "bad.csv" in str(err.value)
    neg = table.copy()
    neg.loc[neg["variable"] == "lactate", "valid_low"] = "-1"
    neg.to_csv(tmp_path / "neg.csv", index=False)
    with pytest.raises(DataError, match="log-scale"):
        load_variables(str(tmp_path / "neg.csv"))
