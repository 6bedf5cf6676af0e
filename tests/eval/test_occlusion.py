"""Occlusion: effects are risk changes worked out by hand, and a series without some
measurements is exactly what the discretizer writes when they were never taken."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.data.cohort import Cohort
from realm.data.discretize import DiscretizerConfig, discretize
from realm.eval.occlusion import (SeriesLayout, entity_effects, risks, series_effects, window_cells,
                                  without_measurements)

from tests.models.test_realm_model import _batch, _model


class EntitySum(torch.nn.Module):
    """logit = bias + the weights of the stay's unmasked entity tokens (one per node)."""

    def __init__(self, weights: list[float], bias: float) -> None:
        super().__init__()
        self.weights, self.bias = torch.tensor(weights), bias

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        w = self.weights[batch["entities_node"]] * batch["entities_mask"]
        return (self.bias + w.sum(1))[:, None]  # (B, 1)


def _entity_batch() -> dict[str, torch.Tensor]:
    return {"values": torch.zeros(2, 1, 1), "entities_node": torch.tensor([[0, 1, 2], [0, 1, 2]]),
            "entities_mask": torch.tensor([[True, True, True], [True, False, True]])}


def test_entity_effects_are_the_risk_change_on_removal_by_hand() -> None:
    model = EntitySum([2.0, -1.0, 0.5], bias=-1.0)
    batch = _entity_batch()
    base = risks(model, batch, 0)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    # stay 0: logit -1 + 2 - 1 + 0.5 = 0.5; stay 1 lacks node 1: logit 1.5
    np.testing.assert_allclose(base, [sig(0.5), sig(1.5)], rtol=1e-6)
    first, second = entity_effects(model, batch, 0, [[[0], [1, 2]], [[2]]], base)
    # removing node 0 (weight +2) from stay 0: logit 0.5 -> -1.5, the risk falls: effect > 0
    np.testing.assert_allclose(first, [sig(0.5) - sig(-1.5), sig(0.5) - sig(1.0)], rtol=1e-6)
    assert first[0] > 0 > first[1]  # a risk-raising entity, then a pair lowering it
    np.testing.assert_allclose(second, [sig(1.5) - sig(1.0)], rtol=1e-6)


def test_entity_effects_of_realm_equal_a_masked_forward_pass() -> None:
    model = _model().eval()
    batch = _batch()
    base = risks(model, batch, 0)
    groups = [[] for _ in range(len(base))]
    groups[2] = [[0, 4], [6]]
    effects = entity_effects(model, batch, 0, groups, base)
    masked = {**batch, "entities_mask": batch["entities_mask"].clone()}
    masked["entities_mask"][2, [0, 4]] = False
    with torch.no_grad():
        by_hand = base[2] - torch.sigmoid(model(masked)[2, 0]).item()
    assert effects[2][0] == pytest.approx(by_hand, abs=1e-6) and by_hand != 0
    assert [len(e) for e in effects] == [0, 0, 2, 0, 0, 0]


CFG = DiscretizerConfig(bin_hours=1.0, window_hours=12.0)
VARIABLES = {"heart_rate": (40.0, 180.0), "creatinine": (0.3, 8.0), "gcs_eye": (1, 4)}


def _cohort(events: list[tuple[int, float, str, float]]) -> Cohort:
    stays = pd.DataFrame({
        "stay_id": [1, 2, 3], "subject_id": [1, 2, 3], "source": "test",
        "split": ["train", "train", "val"], "age": [60.0, 80.0, 20.0], "sex": ["F", "M", "F"],
        "icu_type": ["MICU", "SICU", "MICU"], "height": [170.0, 180.0, 150.0],
        "weight": [70.0, 90.0, 50.0], "los_hours": 50.0,
    })
    # the train stays measure every variable, late enough to leave bins before a first one
    train = [(s, h, v, float(r[0])) for s in (1, 2) for h in (4.5, 8.0)
             for v, r in VARIABLES.items()]
    ev = pd.DataFrame(train + events, columns=["stay_id", "hours", "variable", "value"])
    labels = pd.DataFrame({"stay_id": [1, 2, 3], "mortality": [0, 1, 0]})
    notes = pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")})
    return Cohort(stays=stays, events=ev, notes=notes, labels=labels, meta={"source": "test"})


def _event(draw: st.DrawFn) -> tuple[int, float, str, float]:
    variable = draw(st.sampled_from(sorted(VARIABLES)))
    low, high = VARIABLES[variable]
    value = float(draw(st.integers(low, high))) if variable == "gcs_eye" else \
        draw(st.floats(low, high, allow_nan=False))
    return 3, draw(st.floats(-1.0, 12.0, allow_nan=False)), variable, value


@st.composite
def _removals(draw: st.DrawFn) -> tuple[list, str, int, str]:
    events = draw(st.lists(st.composite(_event)(), min_size=1, max_size=12))
    return (events, draw(st.sampled_from(sorted(VARIABLES))), draw(st.integers(0, 3)),
            draw(st.sampled_from(["forward", "none"])))


@settings(max_examples=60, deadline=None)
@given(_removals())
def test_removing_measurements_equals_discretizing_without_them(case: tuple) -> None:
    events, variable, window, impute = case
    cfg = DiscretizerConfig(bin_hours=1.0, window_hours=12.0, impute=impute)
    full = discretize(_cohort(events), cfg)
    bin_of = lambda h: int(np.clip(np.floor(h / cfg.bin_hours), 0, cfg.n_bins - 1))  # noqa: E731
    kept = [e for e in events if not (e[2] == variable and bin_of(e[1]) // 3 == window)]
    want = discretize(_cohort(kept), cfg)
    v = full.variable_names.index(variable)
    variable_of = np.array([full.variable_names.index(f.split("=")[0]) for f in full.feature_names])
    layout = SeriesLayout.of(full, variable_of)
    got = without_measurements(full.values[2], full.masks[2], full.deltas[2], layout, v,
                               3 * window, 3 * window + 3)
    for name, array in zip(("values", "masks", "deltas"), got):
        np.testing.assert_allclose(array, getattr(want, name)[2], atol=1e-5, err_msg=name)


def test_series_effects_only_for_measured_cells_and_by_hand() -> None:
    masks = np.zeros((12, 2))
    masks[[1, 7], 0] = 1
    masks[11, 1] = 1
    assert window_cells(masks, 3) == [(0, 0), (2, 0), (3, 1)]

    class LastBin(torch.nn.Module):
        """logit = the first feature's value in the last bin."""

        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return batch["values"][:, -1, :1]

    values = np.zeros((12, 2), dtype=np.float32)
    values[1:, 0], values[7:, 0] = 1.0, 3.0  # measured 1 at bin 1, then 3 at bin 7 (carried)
    batch = {"values": torch.from_numpy(values)[None], "masks": torch.from_numpy(masks).float()[None],
             "deltas": torch.zeros(1, 12, 2)}
    layout = SeriesLayout(np.array([0, 1]), np.array([-2.0, 0.0], dtype=np.float32), 1.0, 12.0,
                          "forward")
    base = risks(LastBin(), batch, 0)
    (effects,) = series_effects(LastBin(), batch, 0, layout, [[(0, 0), (2, 0)]], 3, base)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    # without bin 1 the last bin still carries 3: no effect; without bin 7 it carries 1
    np.testing.assert_allclose(effects, [0.0, sig(3.0) - sig(1.0)], atol=1e-7)
