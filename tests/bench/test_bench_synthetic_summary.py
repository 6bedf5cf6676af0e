"""REALM's wide summary term reads the summary factor rows the SummaryProvider appends."""

from __future__ import annotations

import pytest
import torch

from realm.features.schema import summary_shape
from realm.models.encoders import GRUEncoder
from realm.models.realm_model import RealmConfig, RealmModel
from realm.models.terms import LinearPriorTerm, WideSummaryTerm


@pytest.mark.parametrize("factors", [1, 2])
def test_model_sized_for_factors_reads_the_factor_rows(factors: int) -> None:
    torch.manual_seed(0)
    model = RealmModel(["mortality", "readmission_30d"], 4, 3, 2, encoder=lambda f, v, s: GRUEncoder(f, v, s, hidden=8),
                       config=RealmConfig(hidden=8, heads=2, use_entities=False),
                       wide_summary=WideSummaryTerm(), summary_factors=factors)
    with torch.no_grad():
        model.wide.linear.weight.fill_(0.01)
    nv, ns = summary_shape(factors)
    g = torch.Generator().manual_seed(0)
    b = 5
    batch = {"stay_id": torch.arange(b), "values": torch.randn(b, 6, 4, generator=g), "masks": torch.ones(b, 6, 3),
             "deltas": torch.zeros(b, 6, 3), "statics": torch.randn(b, 2, generator=g),
             "summary_values": torch.randn(b, nv, ns, generator=g), "summary_present": torch.ones(b, nv)}
    model.eval()
    assert model(batch).shape == (b, 2)
    changed = {**batch, "summary_values": batch["summary_values"].clone()}
    changed["summary_values"][:, -1, 0] += 1.0  # the last factor's score
    assert (model(batch) - model(changed)).abs().min() > 1e-6
    wrong = {**batch, "summary_values": torch.randn(b, nv + 1, ns, generator=g),
             "summary_present": torch.ones(b, nv + 1)}
    with pytest.raises(Exception, match="summary inputs"):
        model(wrong)


def test_summary_terms_need_the_summary_modality() -> None:
    model = RealmModel(["mortality"], 4, 3, 2, config=RealmConfig(hidden=8, heads=2, use_entities=False),
                       linear_prior=LinearPriorTerm(summary="all")).eval()
    assert model.reads_summary
    batch = {"stay_id": torch.arange(2), "values": torch.zeros(2, 6, 4), "masks": torch.ones(2, 6, 3),
             "deltas": torch.zeros(2, 6, 3), "statics": torch.zeros(2, 2)}
    with pytest.raises(Exception, match="SummaryProvider"):
        model(batch)
