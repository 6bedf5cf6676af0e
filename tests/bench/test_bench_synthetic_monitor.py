"""`realm bench synthetic` keeps the checkpoint with the best mean validation AUROC over tasks."""

from __future__ import annotations

import pytest
import torch

from realm.bench.synthetic import MONITOR, mean_auroc_model
from realm.models.encoders import GRUEncoder
from realm.models.realm_model import RealmConfig, RealmModel


def test_mean_auroc_model_logs_the_mean_of_the_task_aurocs() -> None:
    cls = mean_auroc_model(RealmModel)
    assert issubclass(cls, RealmModel) and cls.__name__ == "RealmModelMeanAuroc"
    model = cls(["mortality", "readmission_30d"], 5, 4, 3, encoder=lambda f, v, s: GRUEncoder(f, v, s, hidden=8),
                config=RealmConfig(hidden=8, heads=2, node_dim=8))
    y = torch.tensor([0, 0, 1, 1])
    model.metrics["val_metrics"]["mortality"].update(torch.tensor([0.1, 0.2, 0.8, 0.9]), y)  # AUROC 1
    model.metrics["val_metrics"]["readmission_30d"].update(torch.tensor([0.1, 0.9, 0.2, 0.8]), y)  # AUROC 0.5
    logged: dict[str, float] = {}
    model.log = lambda name, value, **kw: logged.__setitem__(name, float(value))  # no trainer here
    model.on_validation_epoch_end()
    assert logged == {MONITOR: pytest.approx(0.75)}
