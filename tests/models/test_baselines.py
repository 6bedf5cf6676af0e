"""Summary features (window cut, NaN rows) and the GBM / logistic baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from realm.errors import ConfigError, DataError
from realm.eval.metrics import auroc
from realm.models.baselines import GBMBaseline, LogisticBaseline, fit_predict_baseline
from realm.features.tabular import summary_features

VARS = ["heart_rate", "sodium"]


@pytest.fixture()
def events() -> pd.DataFrame:
    return pd.DataFrame({
        "stay_id": [1, 1, 1, 2, 2, 2],
        "hours": [3.0, 1.0, 48.0, 0.5, 2.0, 2.0],
        "variable": ["heart_rate", "heart_rate", "heart_rate", "sodium", "heart_rate",
                     "heart_rate"],
        "value": [100.0, 80.0, 90.0, 140.0, 70.0, 75.0],
    })


@pytest.fixture()
def stays() -> pd.DataFrame:
    return pd.DataFrame({"stay_id": [2, 1, 3], "age": [70.0, 50.0, np.nan],
                         "sex": ["F", "M", None], "icu_type": ["SICU", "MICU", None],
                         "height": [160.0, np.nan, np.nan], "weight": [60.0, 80.0, np.nan]})


def test_summary_statistics_by_hand(events: pd.DataFrame, stays: pd.DataFrame) -> None:
    f = summary_features(events, stays, variables=VARS)
    assert f.index.tolist() == [2, 1, 3]  # the stays' order, nobody dropped
    # stay 1 heart rate: 80 at 1 h, 100 at 3 h, 90 at 48 h (inside: hours <= 48).
    assert f.loc[1, ["heart_rate__min", "heart_rate__max", "heart_rate__mean",
                     "heart_rate__last", "heart_rate__count"]].tolist() == [80, 100, 90, 90, 3]
    # stay 2: two heart rates at 2 h; the later row in the file is "last".
    assert f.loc[2, "heart_rate__last"] == 75.0
    assert f.loc[2, "sodium__mean"] == 140.0
    assert np.isnan(f.loc[1, "sodium__min"]) and f.loc[1, "sodium__count"] == 0
    assert f.loc[3, ["heart_rate__count", "sodium__count"]].tolist() == [0, 0]
    assert f.loc[3, ["heart_rate__mean", "age", "sex_male"]].isna().all()
    assert f.loc[1, ["age", "sex_male", "icu_MICU", "icu_SICU"]].tolist() == [50, 1, 1, 0]
    assert f.loc[3, ["icu_MICU", "icu_SICU"]].tolist() == [0, 0]


def test_events_after_the_window_do_not_change_features(events: pd.DataFrame,
                                                        stays: pd.DataFrame) -> None:
    before = summary_features(events, stays, variables=VARS, window_hours=48.0)
    late = pd.DataFrame({"stay_id": [1, 3], "hours": [49.0, 48.01],
                         "variable": ["heart_rate", "sodium"], "value": [300.0, 99.0]})
    after = summary_features(pd.concat([events, late]), stays, variables=VARS,
                             window_hours=48.0)
    pd.testing.assert_frame_equal(before, after)
    shorter = summary_features(events, stays, variables=VARS, window_hours=24.0)
    assert shorter.loc[1, "heart_rate__last"] == 100.0  # the 48 h value is now excluded


def test_columns_do_not_depend_on_data(events: pd.DataFrame, stays: pd.DataFrame) -> None:
    full = summary_features(events, stays, stats=("mean", "count"), icu_types=["CCU", "MICU"])
    empty = summary_features(events.iloc[:0], stays, stats=("mean", "count"),
                             icu_types=["CCU", "MICU"])
    assert full.columns.tolist() == empty.columns.tolist()
    assert "icu_CCU" in full.columns and "icu_SICU" not in full.columns
    with pytest.raises(ConfigError):
        summary_features(events, stays, stats=("median",))
    with pytest.raises(DataError):
        summary_features(events.drop(columns="hours"), stays)


def _simulated(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x[:, 0] - 1.5 * x[:, 1])))).astype(int)
    x[rng.random((n, 5)) < 0.2] = np.nan  # ICU-like missingness
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]), y


# Few, large boosting steps keep the GBM test fast on a busy machine.
MODELS = {
    "gbm": lambda: GBMBaseline(learning_rate=0.2, max_iter=40, seed=3, n_threads=1),
    "logistic": lambda: LogisticBaseline(seed=3),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_baselines_learn_a_simple_signal_and_are_deterministic(name: str) -> None:
    x_train, y_train = _simulated(1500, seed=0)
    x_test, y_test = _simulated(1000, seed=1)
    p1 = MODELS[name]().fit(x_train, y_train).predict_proba(x_test)
    p2 = MODELS[name]().fit(x_train, y_train).predict_proba(x_test)
    assert p1.shape == (1000,) and ((p1 >= 0) & (p1 <= 1)).all()
    np.testing.assert_array_equal(p1, p2)
    assert auroc(y_test, p1) > 0.8


def test_baseline_errors() -> None:
    x, y = _simulated(200, seed=2)
    with pytest.raises(ConfigError, match="not fitted"):
        LogisticBaseline().predict_proba(x)
    with pytest.raises(DataError, match="single class"):
        LogisticBaseline().fit(x, np.zeros(200))
    fitted = LogisticBaseline().fit(x, y)
    with pytest.raises(DataError, match="columns differ"):
        fitted.predict_proba(x.drop(columns="f0"))
    with pytest.raises(ConfigError, match="unknown baseline"):
        fit_predict_baseline("svm", x, y, x)
    assert fit_predict_baseline("logistic", x, y, x.iloc[:5]).shape == (5,)
