"""The wide entity term: a ridge-penalised linear map of the summed present-entity vectors."""

from __future__ import annotations

import pytest
import torch

from realm.errors import ConfigError
from realm.features.schema import PRESENT_CODE
from realm.models.terms import WideEntities, WideEntitiesTerm
from realm.records import Assertion
from tests.models.test_realm_model import D, _batch, _model

NEGATED_CODE = list(Assertion).index(Assertion.NEGATED) + 1


def _wide(node_dim: int = 4, l2: float = 0.0) -> WideEntities:
    wide = WideEntities(node_dim, n_tasks=2, l2=l2).eval()
    with torch.no_grad():
        wide.linear.weight.copy_(torch.arange(2 * node_dim, dtype=torch.float32).reshape(2, node_dim))
        wide.linear.bias.fill_(0.5)
    return wide


def test_zero_initialised_so_training_starts_from_the_network() -> None:
    wide = WideEntities(8, 3)
    out = wide(torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.bool))
    assert torch.equal(out, torch.zeros(2, 3))


def test_only_present_unmasked_entities_add_their_vector() -> None:
    wide = _wide()
    vectors = torch.tensor([[[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]]])  # (1, 3, 4)
    mask = torch.tensor([[True, True, False]])  # the third is padding
    present = torch.tensor([[PRESENT_CODE, PRESENT_CODE, PRESENT_CODE]])
    expected = wide.linear(vectors[0, 0] + vectors[0, 1])
    assert torch.allclose(wide(vectors, present, mask)[0], expected)
    # "no pneumonia": the negated entity adds nothing, the stay reads as if it were absent
    negated = present.clone()
    negated[0, 1] = NEGATED_CODE
    assert torch.allclose(wide(vectors, negated, mask)[0], wide.linear(vectors[0, 0]))
    # no present entity at all: the bias only
    assert torch.allclose(wide(vectors, present, torch.zeros_like(mask))[0], torch.full((2,), 0.5))


def test_an_unseen_node_shares_its_siblings_weight_through_its_vector() -> None:
    wide = _wide()
    sibling = torch.tensor([[[1.0, 1.0, 0, 0]]])
    unseen = torch.tensor([[[0.9, 1.1, 0.1, 0]]])  # never trained on, near its sibling
    far = torch.tensor([[[0, 0, 0, 1.0]]])
    args = torch.full((1, 1), PRESENT_CODE), torch.ones(1, 1, dtype=torch.bool)
    near_gap = (wide(unseen, *args) - wide(sibling, *args)).abs().max()
    far_gap = (wide(far, *args) - wide(sibling, *args)).abs().max()
    assert near_gap < far_gap


def test_penalty_is_l2_times_squared_weights() -> None:
    wide = _wide(l2=0.1)
    assert torch.isclose(wide.penalty(), 0.1 * wide.linear.weight.pow(2).sum())
    assert _wide(l2=0.0).penalty() == 0
    with pytest.raises(ConfigError, match="l2"):
        WideEntities(4, 1, l2=-1.0)


def test_model_adds_the_term_and_its_penalty_to_the_training_loss() -> None:
    model = _model(wide_entities=WideEntitiesTerm(l2=0.5))
    assert model.wide_entities is not None and model.wide_entities.linear.in_features == D
    batch = _batch()
    model.eval()
    base = model(batch).detach()
    with torch.no_grad():
        model.wide_entities.linear.weight.fill_(0.1)
    moved = model(batch).detach()
    # stay 0 has no entities: unchanged; the others gain W . sum of their present vectors
    assert torch.allclose(moved[0], base[0])
    sums = (batch["entities_vectors"] * batch["entities_mask"].unsqueeze(-1)).sum(1)  # (B, D)
    assert torch.allclose(moved - base, (0.1 * sums.sum(-1, keepdim=True)), atol=1e-5)
    model.train()
    torch.manual_seed(1)
    with_penalty = model.training_step(batch, 0)
    model.wide_entities.l2 = 0.0
    torch.manual_seed(1)
    without = model.training_step(batch, 0)
    assert torch.isclose(with_penalty - without, 0.5 * model.wide_entities.linear.weight.pow(2).sum())


def test_off_by_default_and_bad_settings_refused() -> None:
    assert _model().wide_entities is None
    with pytest.raises(ConfigError, match="wide_entities needs"):
        _model(wide_entities=WideEntitiesTerm(), use_entities=False)
    with pytest.raises(ConfigError, match="l2"):
        _model(wide_entities=WideEntitiesTerm(l2=-0.1))


def test_present_code_matches_what_the_entity_provider_writes() -> None:
    from realm.features import entities as knowledge

    assert knowledge._ASSERTION_CODE[Assertion.PRESENT] == PRESENT_CODE
    assert knowledge._ASSERTION_CODE[Assertion.NEGATED] == NEGATED_CODE
