"""REALM model: shapes, masking, assertions, gate, attention, learning, KG version."""

from __future__ import annotations

import pytest
import torch

from realm.errors import ConfigError, DataError, KGError
from realm.models.encoders import GRUEncoder, TransformerEncoder
from realm.features.schema import N_ENTITY_NUMBERS
from realm.models.fusion import MaskedAttention
from realm.models.realm_model import RealmConfig, RealmModel
from realm.models.terms import WideEntitiesTerm

B, T, F, V, S, E, D = 6, 8, 5, 4, 3, 7, 16


def _batch(b: int = B, e: int = E, seed: int = 0, notes: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, e, dtype=torch.bool)
    mask[0] = False  # a stay with no entities at all
    mask[1, 3:] = False
    batch = {
        "stay_id": torch.arange(b), "values": torch.randn(b, T, F, generator=g),
        "masks": (torch.rand(b, T, V, generator=g) > 0.5).float(),
        "deltas": torch.rand(b, T, V, generator=g) * 5, "statics": torch.randn(b, S, generator=g),
        "labels": torch.randint(0, 2, (b, 1), generator=g).float(),
        "label_mask": torch.ones(b, 1, dtype=torch.bool),
        "entities_vectors": torch.randn(b, e, D, generator=g), "entities_type": torch.ones(b, e, dtype=torch.long),
        "entities_assertion": torch.ones(b, e, dtype=torch.long),
        "entities_numbers": torch.rand(b, e, N_ENTITY_NUMBERS, generator=g), "entities_mask": mask,
        "entities_node": torch.arange(e).repeat(b, 1),
    }
    if notes:
        batch["notes_emb"] = torch.randn(b, 3, 12, generator=g)
        batch["notes_mask"] = torch.tensor([[True, True, False]] * (b - 1) + [[False] * 3])
    return batch


#: RealmModel init args besides the config: the sizes linked from the data and the terms.
MODEL_ARGS = {"node_dim", "note_dim", "record_dim", "summary_factors", "n_aux_targets", "wide_summary",
              "wide_entities", "linear_prior", "aux_targets"}


def _model(**kwargs) -> RealmModel:
    """A small RealmModel: RealmConfig fields and RealmModel init args, by name."""
    torch.manual_seed(0)
    args = {"node_dim": D, "note_dim": 12, **{k: v for k, v in kwargs.items() if k in MODEL_ARGS}}
    cfg = RealmConfig(**{"hidden": 16, "heads": 2, **{k: v for k, v in kwargs.items() if k not in MODEL_ARGS}})
    return RealmModel(["mortality"], F, V, S, encoder=lambda f, v, s: GRUEncoder(f, v, s, hidden=16), config=cfg,
                      **args)


@pytest.mark.parametrize("fusion", ["cross_attention", "concat"])
def test_shapes_and_fully_masked_sets_are_finite(fusion: str) -> None:
    model = _model(fusion=fusion, use_notes=True).eval()
    batch = _batch(notes=True)
    batch["entities_mask"][:] = False  # nobody has entities
    out = model.fuse(batch)
    assert out["logits"].shape == (B, 1) and torch.isfinite(out["logits"]).all()
    assert out["ts_to_entities"].shape == (B, T, E)
    assert torch.isfinite(out["gate"]).all()
    assert (out["gate"][:, 1] == 0).all()  # absent entities get no weight


def test_transformer_encoder_works_too() -> None:
    cfg = RealmConfig(hidden=16, heads=2)
    model = RealmModel(["mortality", "readmission_30d"], F, V, S,
                       encoder=lambda f, v, s: TransformerEncoder(f, v, s, hidden=16, heads=2), config=cfg,
                       node_dim=D)
    assert model(_batch()).shape == (B, 2)


def test_gate_sums_to_one_over_present_modalities() -> None:
    model = _model(use_notes=True).eval()
    gate = model.fuse(_batch(notes=True))["gate"]  # (B, 3)
    assert torch.allclose(gate.sum(1), torch.ones(B))
    assert gate[0, 1] == 0 and gate[-1, 2] == 0  # stay 0 has no entities, the last no notes
    assert (gate[1:, 1] > 0).all()


def test_assertion_flip_changes_output() -> None:
    model = _model().eval()
    batch = _batch()
    negated = dict(batch, entities_assertion=torch.full((B, E), 2, dtype=torch.long))
    diff = (model(batch) - model(negated)).abs()
    assert diff[0] == 0  # no entities: nothing to flip
    assert (diff[1:] > 1e-4).all()


def test_cross_attention_spreads_over_many_keys() -> None:
    attn = MaskedAttention(16, 2)
    q, k = torch.randn(2, 4, 16), torch.randn(2, 10, 16)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    _, w = attn(q, k, mask)  # (B, Q, K)
    assert w.shape == (2, 4, 10)
    assert torch.allclose(w.sum(-1), torch.ones(2, 4))
    assert ((w[0] > 0).sum(-1) == 10).all() and (w[1, :, 6:] == 0).all()
    assert w[0].max() < 0.9  # weights are spread, not a single token
    _, empty = attn(q, k, torch.zeros(2, 10, dtype=torch.bool))
    assert (empty == 0).all()


def test_loss_decreases_when_label_is_an_entity() -> None:
    """The label is 1 exactly when node vector 'A' is in the set: only entities can tell."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: extra threads only add contention
    torch.manual_seed(0)
    model = _model(use_stats=False, modality_dropout=0.0, dropout=0.0)
    a = torch.randn(D)
    n = 32
    batch = _batch(b=n, e=4, seed=1)
    batch["entities_mask"] = torch.ones(n, 4, dtype=torch.bool)
    y = torch.arange(n) % 2
    batch["entities_vectors"][y == 1, 0] = a
    batch["labels"] = y.float().unsqueeze(1)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    from realm.models.module import masked_bce

    losses = []
    for _ in range(50):
        loss = masked_bce(model(batch), batch["labels"], batch["label_mask"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    torch.set_num_threads(threads)
    assert losses[-1] < 0.3 < losses[0]


def test_modality_dropout_hides_entities_in_training_only() -> None:
    model = _model(modality_dropout=0.9)
    torch.manual_seed(1)
    model.train()
    gate = model.fuse(_batch())["gate"]
    assert (gate[1:, 1] == 0).any()
    model.eval()
    assert (model.fuse(_batch())["gate"][1:, 1] > 0).all()


def test_entity_dropout_hides_tokens_but_never_a_whole_set() -> None:
    model = _model(entity_dropout=0.5, modality_dropout=0.0)
    torch.manual_seed(2)
    batch = _batch()
    model.train()
    kept = model.fuse(batch)["entity_mask"]
    given = batch["entities_mask"]
    assert not (kept & ~given).any()  # nothing absent appears
    assert kept.sum() < given.sum()  # tokens were hidden
    assert (kept.any(1) == given.any(1)).all()  # no stay lost its whole set
    model.eval()
    assert torch.equal(model.fuse(batch)["entity_mask"], given)
    with pytest.raises(ConfigError, match="entity_dropout"):
        _model(entity_dropout=1.0)


def test_kg_version_mismatch_is_refused() -> None:
    model = _model()
    model.check_kg("v1", "emb1")
    assert model.hparams["kg_version"] == "v1"
    model.check_kg("v1", "emb1")
    with pytest.raises(KGError, match="KG version v1"):
        model.check_kg("v2", "emb1")
    with pytest.raises(KGError, match="node embeddings"):
        model.check_kg("v1", "emb2")


def test_bad_inputs_are_caught_at_the_boundary() -> None:
    model = _model()
    batch = _batch()
    batch["entities_vectors"][2, 0, 0] = float("nan")
    with pytest.raises(DataError, match="entities_vectors"):
        model(batch)
    with pytest.raises(ConfigError, match="EntityProvider"):
        model({k: v for k, v in _batch().items() if not k.startswith("entities")})
    with pytest.raises(ConfigError, match="node_dim"):
        model(dict(_batch(), entities_vectors=torch.randn(B, E, D + 1)))
    with pytest.raises(ConfigError, match="at least one"):
        RealmConfig(use_timeseries=False, use_entities=False).check()


def test_entities_only_and_no_event_stays() -> None:
    model = _model(use_timeseries=False).eval()
    batch = _batch()
    batch["masks"][:] = 0  # all variables missing
    out = model.fuse(batch)
    assert torch.isfinite(out["logits"]).all()
    assert (out["gate"][:, 0] == 0).all()


def test_record_vector_is_a_text_token_beside_the_notes() -> None:
    batch = _batch(notes=True)
    batch["record_vector"] = torch.randn(B, 10)
    both = _model(use_notes=True, use_record=True, record_dim=10).eval()
    gate = both.fuse(batch)["gate"]
    assert (gate[:, 2] > 0).all()  # the last stay has no notes, but its record is text too
    alone = _model(use_record=True, record_dim=10).eval()
    changed = dict(batch, record_vector=batch["record_vector"] + 1.0)
    assert (alone(batch) - alone(changed)).abs().max() > 1e-5  # the record reaches the logits
    with pytest.raises(ConfigError, match="RecordVectorProvider"):
        alone(_batch())
    bad = dict(batch, record_vector=torch.full((B, 10), float("nan")))
    with pytest.raises(DataError):
        alone(bad)


@pytest.mark.parametrize("config", [{}, {"fusion": "concat"}, {"use_timeseries": False},
                                    {"use_notes": True}, {"wide_entities": WideEntitiesTerm()}])
def test_every_parameter_reaches_the_loss(config: dict) -> None:
    """DDP (without find_unused_parameters) refuses parameters that never reach the loss."""
    model = _model(**config)
    model.train()
    model.training_step(_batch(notes=config.get("use_notes", False)), 0).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
