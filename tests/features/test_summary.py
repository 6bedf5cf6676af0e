"""The summary modality: train-fitted rank-Gauss statistics, and the model's wide path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from realm.data.cohort import Cohort
from realm.errors import ConfigError, DataError
from realm.models.encoders import GRUEncoder
from realm.models.realm_model import RealmConfig, RealmModel
from realm.models.terms import WideSummaryTerm
from realm.features.schema import summary_shape
from realm.features.summary import SummaryProvider, rank_gauss
from realm.resources import load_variables


def test_rank_gauss_is_monotone_bounded_and_fitted_on_train_only() -> None:
    train = np.array([[1.0], [2.0], [3.0], [4.0], [np.nan]])
    x = np.array([[0.0], [2.5], [100.0], [np.nan]])
    out = rank_gauss(train, x)
    assert out[0, 0] < out[1, 0] < out[2, 0] and np.isnan(out[3, 0])
    assert abs(out[1, 0]) < 0.1  # the train median maps near 0
    assert out[2, 0] == rank_gauss(train, np.array([[4.0]]))[0, 0]  # outliers clip at the train maximum
    assert np.isfinite(out[:3]).all() and np.abs(out[:3]).max() < 3
    assert rank_gauss(np.full((3, 1), np.nan), np.array([[5.0]]))[0, 0] == 0.0  # nothing to fit on


@pytest.fixture()
def cohort(tmp_path: Path) -> Path:
    ids = np.array([1, 2, 3, 4])
    stays = pd.DataFrame({"stay_id": ids, "subject_id": ids, "source": "test",
                          "split": ["train", "train", "val", "test"], "age": 60.0, "sex": "F",
                          "icu_type": "MICU", "height": 170.0, "weight": 80.0, "los_hours": 60.0})
    events = pd.DataFrame({"stay_id": [1, 1, 2, 3, 3, 4], "hours": [1.0, 2.0, 3.0, 1.0, 60.0, 5.0],
                           "variable": "heart_rate", "value": [130.0, 70.0, 80.0, 90.0, 300.0, 500.0]})
    labels = pd.DataFrame({"stay_id": ids, "mortality": pd.array([1, 0, 1, 0], dtype="Int8"),
                           "readmission_30d": pd.array([0, 0, 1, 0], dtype="Int8")})
    notes = pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")})
    Cohort(stays=stays, events=events, notes=notes, labels=labels, meta={"source": "test"}).save(tmp_path / "c")
    return tmp_path / "c"


def test_summary_provider_tensors(cohort: Path) -> None:
    p = SummaryProvider()
    p.setup(cohort, np.array([1, 2, 3, 4]))
    out = p.get([3, 1, 4])
    v, s = summary_shape()
    assert out["values"].shape == (3, v, s) and out["present"].shape == (3, v)
    hr = list(load_variables()).index("heart_rate")
    assert out["present"][:, hr].tolist() == [1.0, 1.0, 1.0] and out["present"].sum() == 3
    assert (out["values"][:, [i for i in range(v) if i != hr]] == 0).all()  # unmeasured: 0
    # stay 3's 300 at hour 60 is past the window: its max is 90, below stay 1's 130
    mx = 1  # STATS order: min, max, mean, last, count
    assert out["values"][0, hr, mx] < out["values"][1, hr, mx]
    assert out["values"][2, hr, mx] == out["values"][1, hr, mx]  # test outlier 500 clips to the train max
    with pytest.raises(DataError, match="stay 9"):
        p.get([9])


def test_summary_provider_needs_train_stays(tmp_path: Path, cohort: Path) -> None:
    stays = pd.read_parquet(cohort / "stays.parquet").assign(split="test")
    stays.to_parquet(cohort / "stays.parquet")
    with pytest.raises(DataError, match="train"):
        SummaryProvider().setup(cohort, np.array([1, 2]))
    with pytest.raises(ConfigError):
        SummaryProvider(n_quantiles=2)


def _batch(b: int = 5, f: int = 4, v: int = 3, s: int = 2, t: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    nv, ns = summary_shape()
    return {"stay_id": torch.arange(b), "values": torch.randn(b, t, f, generator=g),
            "masks": torch.ones(b, t, v), "deltas": torch.zeros(b, t, v), "statics": torch.randn(b, s, generator=g),
            "labels": torch.randint(0, 2, (b, 1), generator=g).float(), "label_mask": torch.ones(b, 1, dtype=torch.bool),
            "summary_values": torch.randn(b, nv, ns, generator=g), "summary_present": torch.ones(b, nv)}


def _model(config: dict | None = None, **kw) -> RealmModel:
    """REALM on the time series with the wide summary term (``wide``: its settings)."""
    torch.manual_seed(0)
    wide = WideSummaryTerm(**kw.pop("wide", {}))
    return RealmModel(["mortality"], 4, 3, 2, encoder=lambda f, v, s: GRUEncoder(f, v, s, hidden=8),
                      config=RealmConfig(hidden=8, heads=2, use_entities=False, **(config or {})),
                      wide_summary=wide, **kw)


def test_model_reads_the_summary() -> None:
    model = _model()
    batch = _batch()
    # zero-initialised: the wide term starts silent, then learns like a logistic regression
    assert model.wide(batch["summary_values"], batch["summary_present"], batch["statics"]).abs().max() == 0
    with torch.no_grad():
        model.wide.linear.weight.fill_(0.01)
    model.eval()
    changed = dict(batch, summary_values=batch["summary_values"] + 1.0)
    assert (model(batch) - model(changed)).abs().min() > 1e-5
    with pytest.raises(ConfigError, match="SummaryProvider"):
        model({k: x for k, x in batch.items() if not k.startswith("summary_")})


def test_wide_summary_is_linear_and_its_dropout_trains_only() -> None:
    model = _model(wide={"dropout": 0.5})
    wide = model.wide
    with torch.no_grad():
        wide.linear.weight.normal_()
    batch = _batch()
    args = batch["summary_values"], batch["summary_present"], batch["statics"]
    wide.eval()
    twice = wide(2 * args[0], 2 * args[1], 2 * args[2])
    assert torch.allclose(twice - wide.linear.bias, 2 * (wide(*args) - wide.linear.bias), atol=1e-5)
    assert torch.equal(wide(*args), wide(*args))  # no dropout in eval
    wide.train()
    torch.manual_seed(1)
    assert not torch.equal(wide(*args), wide(*args))  # inputs dropped in training
    with pytest.raises(ConfigError, match="dropout"):
        _model(wide={"dropout": 1.0})


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_lr_schedule_anneals(schedule: str) -> None:
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader

    batch = _batch()
    loader = DataLoader([batch] * 4, batch_size=None)
    model = _model(lr_schedule=schedule, lr=1e-2)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(model, loader)
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert lr < 1e-3  # annealed far below the peak by the last step
    with pytest.raises(ConfigError, match="lr_schedule"):
        _model(lr_schedule="linear")
