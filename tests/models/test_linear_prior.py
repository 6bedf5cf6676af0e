"""The linear prior: a ridge logistic regression fitted on the train split, fixed in training."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from realm.errors import ConfigError, DataError
from realm.features.schema import PRESENT_CODE
from realm.models.linear_prior import LinearPrior
from realm.models.terms import LinearPriorTerm
from realm.records import Assertion
from tests.models.test_realm_model import D, S, _batch, _model

NEGATED_CODE = list(Assertion).index(Assertion.NEGATED) + 1


def _planted(n_batches: int = 12, b: int = 64, seed: int = 0) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
    """Batches whose mortality follows a logistic rule on the summed present vectors and the
    first static; returns them and the rule's weight on the vector sum (D,)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(D, generator=g) * 0.6
    batches = []
    for k in range(n_batches):
        batch = _batch(b=b, seed=seed * 100 + k)
        batch["entities_assertion"] = torch.where(torch.rand(b, batch["entities_mask"].shape[1], generator=g) < 0.3,
                                                  NEGATED_CODE, PRESENT_CODE)
        present = batch["entities_mask"] & (batch["entities_assertion"] == PRESENT_CODE)
        sums = (batch["entities_vectors"] * present.unsqueeze(-1)).sum(1)
        logit = sums @ w + 1.5 * batch["statics"][:, 0] - 0.5
        batch["labels"] = (torch.rand(b, generator=g) < torch.sigmoid(logit)).float()[:, None]
        batches.append(batch)
    return batches, w


def test_fit_recovers_a_planted_linear_rule_and_ignores_negated_entities() -> None:
    batches, w = _planted()
    prior = LinearPrior(1, use_entities=True, summary="none")
    prior.fit(batches)
    assert bool(prior.fitted) and prior.weight.shape == (1, D + S) and len(prior.penalty_c) == 1
    cosine = torch.nn.functional.cosine_similarity(prior.weight[0, :D], w, dim=0)
    assert cosine > 0.9
    assert prior.weight[0, D] > 0.5 and abs(float(prior.weight[0, D + 1])) < 0.4  # static 0 only
    # a negated entity is not a present one: flipping it changes nothing
    batch = batches[0]
    flipped = dict(batch)
    negated = batch["entities_assertion"] == NEGATED_CODE
    vectors = batch["entities_vectors"].clone()
    vectors[negated] = 100.0
    flipped["entities_vectors"] = vectors
    assert torch.allclose(prior(flipped), prior(batch))


def test_unfitted_prior_refuses_and_bad_settings_are_named() -> None:
    prior = LinearPrior(1, summary="none")
    with pytest.raises(ConfigError, match="not fitted"):
        prior(_batch())
    with pytest.raises(ConfigError, match="factors"):
        LinearPrior(1, summary="factors", n_factors=0)
    with pytest.raises(ConfigError, match="summary"):
        LinearPrior(1, summary="some")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="summary_factors"):
        _model(linear_prior=LinearPriorTerm(summary="factors"))
    with pytest.raises(ConfigError, match="SummaryProvider"):
        LinearPrior(1, summary="all").inputs(_batch())
    one_class, _ = _planted(n_batches=2)
    for batch in one_class:
        batch["labels"].zero_()
    with pytest.raises(DataError, match="too few"):
        LinearPrior(1, summary="none").fit(one_class)
    with pytest.raises(DataError, match="no training batches"):
        LinearPrior(1, summary="none").fit([])


def test_checkpoint_round_trip_restores_the_fitted_prior() -> None:
    batches, _ = _planted(n_batches=4)
    prior = LinearPrior(1, summary="none")
    prior.fit(batches)
    fresh = LinearPrior(1, summary="none")
    fresh.load_state_dict(prior.state_dict())
    assert bool(fresh.fitted) and torch.equal(fresh(batches[0]), prior(batches[0]))


class _Batches(pl.LightningDataModule):
    def __init__(self, train: list[dict[str, torch.Tensor]], val: list[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.train, self.val = train, val

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=None)


@pytest.mark.slow
def test_model_fits_the_prior_on_the_train_split_and_holds_it_fixed() -> None:
    train, _ = _planted(n_batches=8)
    val, _ = _planted(n_batches=2, seed=1)
    model = _model(linear_prior=LinearPriorTerm(summary="none"), modality_dropout=0.5)
    with pytest.raises(ConfigError, match="not fitted"):
        model(val[0])
    reference = LinearPrior(1, summary="none")
    reference.fit(train)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(model, datamodule=_Batches(train, val))
    assert torch.equal(model.prior.weight, reference.weight)  # fitted on train, then never moved
    assert all(not p.requires_grad or "prior" not in n for n, p in model.named_parameters())
    # the prior reads the batch's own entity mask: modality dropout in training leaves it alone
    model.train()
    assert torch.equal(model.prior(val[0]), reference(val[0]))
    # and it is part of the logits: a model whose network is silenced predicts the prior
    model.eval()
    with torch.no_grad():
        for p in model.head.parameters():
            p.zero_()
        assert torch.allclose(model(val[0]), reference(val[0]), atol=1e-5)
