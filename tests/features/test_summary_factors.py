"""Label-free factor scores in the summary modality (SummaryProvider n_factors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realm.data.cohort import Cohort
from realm.errors import ConfigError, DataError
from realm.features.tabular import STATS
from realm.features.schema import summary_shape
from realm.features.summary import SummaryProvider, fit_factors, series_slopes


def _planted(n: int = 400, c: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    load = rng.uniform(0.5, 1.0, size=c)
    x = f[:, None] * load + rng.normal(scale=0.6, size=(n, c)) + rng.normal(size=c) * 5
    return x, f, load


def test_fit_factors_recovers_a_planted_factor() -> None:
    x, f, load = _planted()
    x[::7, 3] = np.nan  # missing values are imputed by the train mean
    train = np.arange(len(x)) % 5 < 3
    scores, loadings, cols = fit_factors(x, train, 1)
    assert scores.shape == (len(x), 1) and loadings.shape == (1, x.shape[1]) and list(cols) == list(range(12))
    assert np.corrcoef(scores[~train, 0], f[~train])[0, 1] > 0.95  # positive: the largest loading is > 0
    assert (loadings > 0).all()
    assert abs(scores[train].mean()) < 1e-9 and scores[train, 0].std() == pytest.approx(1.0)
    again, _, _ = fit_factors(x, train, 1)
    assert np.array_equal(scores, again)  # deterministic


def test_fit_factors_uses_train_rows_only() -> None:
    x, _, _ = _planted()
    train = np.arange(len(x)) % 5 < 3
    scores, loadings, _ = fit_factors(x, train, 2)
    other = x.copy()
    other[~train] = np.random.default_rng(1).normal(size=other[~train].shape) * 100
    scores2, loadings2, _ = fit_factors(other, train, 2)
    assert np.allclose(loadings, loadings2) and np.allclose(scores[train], scores2[train])
    assert not np.allclose(scores[~train], scores2[~train])


def test_fit_factors_drops_sparse_and_constant_columns_and_checks_sizes() -> None:
    x, _, _ = _planted(c=6)
    x[:, 1] = 3.0  # constant
    x[5:, 2] = np.nan  # measured in 5 of 400 stays
    x = np.c_[x, np.full(len(x), np.nan)]  # never measured
    train = np.ones(len(x), dtype=bool)
    _, loadings, cols = fit_factors(x, train, 1, min_coverage=0.1)
    assert list(cols) == [0, 3, 4, 5] and loadings.shape == (1, 4)
    with pytest.raises(DataError, match="too few"):
        fit_factors(x, train, 4)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError):
            fit_factors(x, train, bad)  # type: ignore[arg-type]


def test_series_slopes() -> None:
    events = pd.DataFrame({"stay_id": [1, 1, 1, 2, 3, 3, 1], "hours": [0.0, 2.0, 4.0, 1.0, 1.0, 1.5, 60.0],
                           "variable": ["heart_rate"] * 7, "value": [80.0, 90.0, 100.0, 5.0, 1.0, 2.0, 0.0]})
    stays = pd.DataFrame({"stay_id": [3, 2, 1, 4]})
    out = series_slopes(events, stays, ["heart_rate", "sbp"], window_hours=48)
    assert out.shape == (4, 2)
    assert out[2, 0] == pytest.approx(5.0)  # 10 per 2 h; the hour-60 value is past the window
    assert np.isnan(out[1, 0]) and np.isnan(out[0, 0])  # one measurement; times 0.5 h apart
    assert np.isnan(out[:, 1]).all() and np.isnan(out[3]).all()


VARS = ("heart_rate", "sbp", "dbp", "resp_rate", "temperature", "spo2", "lactate", "creatinine")


@pytest.fixture()
def cohort(tmp_path: Path) -> Path:
    """60 stays whose 8 variables share one planted severity (level and trend)."""
    rng = np.random.default_rng(0)
    n = 60
    ids = np.arange(1, n + 1)
    sev = rng.normal(size=n)
    split = np.array(["train", "train", "val", "test"] * (n // 4))
    rows = []
    for i, s in zip(ids, sev):
        for j, v in enumerate(VARS):
            for h in (2.0, 12.0, 24.0, 40.0):
                rows.append((i, h, v, 50 + 10 * j + 3 * s + 0.1 * s * h + rng.normal()))
    events = pd.DataFrame(rows, columns=["stay_id", "hours", "variable", "value"])
    stays = pd.DataFrame({"stay_id": ids, "subject_id": ids, "source": "test", "split": split, "age": 60.0,
                          "sex": "F", "icu_type": "MICU", "height": 170.0, "weight": 80.0, "los_hours": 60.0})
    labels = pd.DataFrame({"stay_id": ids, "mortality": pd.array(rng.integers(0, 2, n), dtype="Int8"),
                           "readmission_30d": pd.array(rng.integers(0, 2, n), dtype="Int8")})
    notes = pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")})
    Cohort(stays=stays, events=events, notes=notes, labels=labels, meta={"source": "test"}).save(tmp_path / "c")
    pd.DataFrame({"stay_id": ids, "severity": sev}).to_parquet(tmp_path / "severity.parquet")
    return tmp_path / "c"


def test_provider_appends_factor_scores(cohort: Path) -> None:
    ids = np.arange(1, 61)
    v, s = summary_shape()
    assert summary_shape(2) == (v + 2, s)
    p = SummaryProvider(n_factors=2)
    p.setup(cohort, ids)
    out = p.get(list(ids))
    assert out["values"].shape == (60, v + 2, s) and out["present"].shape == (60, v + 2)
    assert (out["present"][:, v:] == 1).all() and (out["values"][:, v:, 1:] == 0).all()
    plain = SummaryProvider()
    plain.setup(cohort, ids)
    assert np.array_equal(out["values"][:, :v].numpy(), plain.get(list(ids))["values"].numpy())
    assert list(p.factor_loadings.index) == ["factor1", "factor2"]
    assert set(p.factor_loadings.columns) == {f"{x}__{st}" for x in VARS for st in ("mean", "slope")}
    sev = pd.read_parquet(cohort.parent / "severity.parquet")["severity"].to_numpy()
    one = SummaryProvider(n_factors=1)
    one.setup(cohort, ids)
    score = one.get(list(ids))["values"][:, v, 0].numpy()
    assert abs(np.corrcoef(score, sev)[0, 1]) > 0.9  # the planted severity, without labels


def test_provider_fits_factors_on_train_stays_only(cohort: Path) -> None:
    ids = np.arange(1, 61)
    p = SummaryProvider(n_factors=1)
    p.setup(cohort, ids)
    c = Cohort.load(cohort)
    held_out = c.stays.loc[c.stays["split"] != "train", "stay_id"]
    events = c.events.copy()
    moved = events["stay_id"].isin(held_out)
    events.loc[moved, "value"] = events.loc[moved, "value"] * -3 + 1000
    Cohort(stays=c.stays, events=events, notes=c.notes, labels=c.labels, meta=c.meta).save(cohort)
    q = SummaryProvider(n_factors=1)
    q.setup(cohort, ids)
    pd.testing.assert_frame_equal(p.factor_loadings, q.factor_loadings)
    train = [int(i) for i in c.stays.loc[c.stays["split"] == "train", "stay_id"]]
    assert np.array_equal(p.get(train)["values"].numpy(), q.get(train)["values"].numpy())


def test_provider_rejects_bad_factor_settings() -> None:
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="n_factors"):
            SummaryProvider(n_factors=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_factors"):
        summary_shape(-1)
    with pytest.raises(ConfigError, match="factor_stats"):
        SummaryProvider(n_factors=1, factor_stats=("median",))
    with pytest.raises(ConfigError, match="factor_stats"):
        SummaryProvider(n_factors=1, factor_stats=())
    with pytest.raises(ConfigError, match="min_coverage"):
        SummaryProvider(n_factors=1, min_coverage=1.5)
    assert len(STATS) == summary_shape(3)[1]
