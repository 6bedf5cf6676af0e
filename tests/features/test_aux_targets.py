"""Auxiliary targets: the provider (train-split scaling, test stays never loaded) and
RealmModel's extra loss term (training only, never an input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from realm.errors import ConfigError, DataError
from realm.features.aux_targets import AuxTargetProvider
from realm.models.terms import AuxTargetsHead
from tests.data.test_datamodule import make_cohort
from tests.models.test_realm_model import _batch, _model


def _with_scores(directory: Path) -> Path:
    cohort = make_cohort(directory)
    stays = pd.read_parquet(cohort / "stays.parquet")
    stays["saps1"] = pd.array(np.arange(len(stays), dtype=float) + 5, dtype="Float64")
    stays.loc[stays.index[2], "saps1"] = pd.NA
    stays["los_hours"] = np.linspace(30, 300, len(stays))
    stays.to_parquet(cohort / "stays.parquet", index=False)
    return cohort


def test_provider_scales_on_train_and_never_loads_test_stays(tmp_path: Path) -> None:
    cohort = _with_scores(tmp_path / "c")
    stays = pd.read_parquet(cohort / "stays.parquet")
    provider = AuxTargetProvider(["saps1", "los_hours"], log_columns=["los_hours"])
    provider.setup(cohort, stays["stay_id"].to_numpy())
    values = provider.get(stays["stay_id"].tolist())["values"].numpy()
    assert values.shape == (len(stays), 2)
    test = (stays["split"] == "test").to_numpy()
    assert np.isnan(values[test]).all()
    train = (stays["split"] == "train").to_numpy()
    assert np.isnan(values[2, 0])  # a missing score stays missing (masked out of the loss)
    saps = values[train, 0][~np.isnan(values[train, 0])]
    assert saps.mean() == pytest.approx(0.0, abs=1e-5) and saps.std() == pytest.approx(1.0, abs=1e-4)
    los = np.log1p(stays.loc[train, "los_hours"].to_numpy())
    assert values[train, 1] == pytest.approx((los - los.mean()) / los.std(), abs=1e-4)


def test_provider_refuses_bad_settings(tmp_path: Path) -> None:
    cohort = _with_scores(tmp_path / "c")
    ids = pd.read_parquet(cohort / "stays.parquet")["stay_id"].to_numpy()
    with pytest.raises(ConfigError, match="log_columns"):
        AuxTargetProvider(["saps1"], log_columns=["sofa"])
    with pytest.raises(DataError, match="sofa"):
        AuxTargetProvider(["sofa"]).setup(cohort, ids)
    with pytest.raises(DataError, match="not in the stays table"):
        AuxTargetProvider(["saps1"]).setup(cohort, np.array([999_999]))


def test_aux_loss_trains_the_aux_head_and_never_changes_predictions() -> None:
    batch = _batch()
    batch["aux_values"] = torch.randn(batch["labels"].shape[0], 2)
    batch["aux_values"][0, 1] = float("nan")
    plain, aux = _model(), _model(aux_targets=AuxTargetsHead(weight=1.0), n_aux_targets=2)
    aux.load_state_dict({**plain.state_dict(), **{k: v for k, v in aux.state_dict().items() if k.startswith("aux_head")}})
    plain.eval(), aux.eval()
    with torch.no_grad():  # the forward pass never reads the targets
        assert torch.equal(plain(batch), aux(batch))
        changed = {**batch, "aux_values": batch["aux_values"] + 5}
        assert torch.equal(aux(batch), aux(changed))
    aux.train(), plain.train()
    aux.log = plain.log = lambda *a, **k: None  # no trainer attached
    torch.manual_seed(1)
    with_aux = aux.training_step(batch, 0)
    torch.manual_seed(1)
    without = plain.training_step(batch, 0)
    assert torch.isfinite(with_aux) and with_aux.item() > without.item()
    with_aux.backward()
    assert aux.aux_head.weight.grad is not None and aux.aux_head.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="aux_values"):
        aux.training_step({k: v for k, v in batch.items() if k != "aux_values"}, 0)
    with pytest.raises(ConfigError, match="aux_targets.weight"):
        _model(aux_targets=AuxTargetsHead(weight=-1.0), n_aux_targets=2)
    with pytest.raises(ConfigError, match="AuxTargetProvider"):
        _model(aux_targets=AuxTargetsHead())  # no target columns linked from the data
