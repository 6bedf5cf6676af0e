"""RealmTask / TimeSeriesModel: masked loss by hand, input checks, learning a toy signal."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch

from realm.errors import ConfigError, DataError
from realm.models import GRUEncoder, TimeSeriesModel, TransformerEncoder
from realm.models.module import masked_bce

B, T, F, V, S = 16, 6, 3, 2, 4


def _batch(n: int = B, seed: int = 0) -> dict[str, torch.Tensor]:
    """Task 0 = sign of feature 0's mean; task 1 = its opposite, undefined for half."""
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(n, T, F, generator=g)
    y = (values[:, :, 0].mean(1) > 0).float()
    labels = torch.stack([y, 1 - y], dim=1)  # (n, 2)
    labels[::2, 1] = float("nan")
    return {
        "values": values, "masks": torch.ones(n, T, V), "deltas": torch.zeros(n, T, V),
        "statics": torch.randn(n, S, generator=g), "labels": labels,
        "label_mask": ~torch.isnan(labels), "stay_id": torch.arange(n) + 1000,
    }


def _model(encoder: object = GRUEncoder, lr: float = 1e-2) -> TimeSeriesModel:
    return TimeSeriesModel(["mortality", "readmission_30d"], F, V, S, encoder=encoder, lr=lr)


def test_masked_bce_matches_hand_computation() -> None:
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    labels = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    loss = masked_bce(logits, labels, ~torch.isnan(labels))
    # Defined cells: (0,0) y=1 z=0, (1,0) y=0 z=1, (1,1) y=1 z=-1.
    by_hand = (math.log(2) + math.log(1 + math.e) + math.log(1 + math.e)) / 3
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    weighted = masked_bce(logits, labels, ~torch.isnan(labels), torch.tensor([3.0, 1.0]))
    assert weighted.item() == pytest.approx(
        (3 * math.log(2) + math.log(1 + math.e) + math.log(1 + math.e)) / 3, rel=1e-6)


def test_all_undefined_labels_give_zero_loss_not_nan() -> None:
    labels = torch.full((2, 2), float("nan"))
    loss = masked_bce(torch.randn(2, 2), labels, ~torch.isnan(labels))
    assert loss.item() == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("encoder", [GRUEncoder, partial(TransformerEncoder, hidden=16, heads=2, layers=1, dropout=0.0)])
def test_loss_decreases_on_a_learnable_signal(encoder: object) -> None:
    torch.manual_seed(0)
    model = _model(encoder)
    opt = model.configure_optimizers()
    batch = _batch(32)
    first = None
    for _ in range(40):
        logits = model(batch)
        loss = masked_bce(logits, batch["labels"], batch["label_mask"])
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_nan_input_names_the_stays() -> None:
    model = _model()
    batch = _batch()
    batch["values"][3, 2, 1] = float("nan")
    batch["deltas"][5, 0, 0] = float("inf")
    with pytest.raises(DataError, match=r"'values' of stays \[1003\]"):
        model._shared_step(batch, "train")
    batch["values"][3, 2, 1] = 0.0
    with pytest.raises(DataError, match=r"'deltas' of stays \[1005\]"):
        model.predict_step(batch, 0)


def test_predict_step_returns_probabilities_per_task() -> None:
    out = _model().predict_step(_batch(), 0)
    assert set(out) == {"stay_id", "mortality", "readmission_30d"}
    assert out["mortality"].shape == (B,)
    assert ((out["mortality"] > 0) & (out["mortality"] < 1)).all()


def test_bad_model_arguments_raise() -> None:
    with pytest.raises(ConfigError, match="pos_weight"):
        TimeSeriesModel(["mortality"], F, V, S, pos_weight=[1.0, 2.0])
    with pytest.raises(ConfigError, match="divisible"):
        TransformerEncoder(F, V, S, hidden=10, heads=4)
    with pytest.raises(ConfigError, match="n_features"):
        GRUEncoder(0, V, S)


def test_encoders_output_shapes() -> None:
    b = _batch()
    for enc in (GRUEncoder(F, V, S, hidden=8, layers=2), TransformerEncoder(F, V, S, hidden=8, heads=2)):
        states, pooled = enc(b["values"], b["masks"], b["deltas"], b["statics"])
        assert states.shape == (B, T, 8) and pooled.shape == (B, 8)


def test_validation_logs_the_mean_auroc_over_the_tasks() -> None:
    """One multi-task checkpoint is chosen on the mean AUROC (checkpoint.monitor: val/mean_auroc)."""
    from realm.models.encoders import GRUEncoder
    from realm.models.module import MEAN_AUROC, TimeSeriesModel

    model = TimeSeriesModel(["mortality", "readmission_30d"], 5, 4, 3,
                            encoder=lambda f, v, s: GRUEncoder(f, v, s, hidden=8))
    y = torch.tensor([0, 0, 1, 1])
    model.metrics["val_metrics"]["mortality"].update(torch.tensor([0.1, 0.2, 0.8, 0.9]), y)  # AUROC 1
    model.metrics["val_metrics"]["readmission_30d"].update(torch.tensor([0.1, 0.9, 0.2, 0.8]), y)  # AUROC 0.5
    logged: dict[str, float] = {}
    model.log = lambda name, value, **kw: logged.__setitem__(name, float(value))  # no trainer here
    model.on_validation_epoch_end()
    assert logged == {MEAN_AUROC: pytest.approx(0.75)}


def test_time_series_model_takes_its_lr_schedule() -> None:
    from realm.models.module import TimeSeriesModel

    model = TimeSeriesModel(["mortality"], 5, 4, 3, lr_schedule="cosine")
    assert model.lr_schedule == "cosine" and model.hparams["lr_schedule"] == "cosine"
