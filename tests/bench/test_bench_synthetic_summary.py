"""`realm bench synthetic` with the summary modality: --realm-summary-mode and --summary-factors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from realm.bench.synthetic import register
from realm.cli import main
from tests.bench.synthetic_fixtures import use_tiny_kg
from realm.models.encoders import GRUEncoder
from realm.models.realm_model import RealmConfig, RealmModel
from realm.features.summary import summary_shape


def test_flags_parse_and_default_to_the_wide_summary() -> None:
    parser = argparse.ArgumentParser()
    register(parser)
    a = parser.parse_args(["--out", "x.json"])
    assert (a.realm_summary, a.realm_summary_mode, a.summary_factors) == (True, "wide", None)
    assert (a.realm_entity_wide, a.realm_entity_wide_l2) == (True, 0.01)
    assert parser.parse_args(["--out", "x.json", "--no-realm-summary"]).realm_summary is False
    a = parser.parse_args(["--out", "x.json", "--realm-summary", "--realm-summary-mode", "wide",
                           "--summary-factors", "3"])
    assert (a.realm_summary, a.realm_summary_mode, a.summary_factors) == (True, "wide", 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "x.json", "--realm-summary-mode", "linear"])


def test_factors_need_the_summary(tmp_path: Path) -> None:
    out = str(tmp_path / "x.json")
    assert main(["bench", "synthetic", "--out", out, "--no-realm-summary", "--summary-factors", "2"]) == 1
    assert main(["bench", "synthetic", "--out", out, "--realm-summary", "--summary-factors", "-1"]) == 1
    assert main(["bench", "synthetic", "--out", out, "--realm-summary", "--summary-factors", "0",
                 "--summary-factors-only"]) == 1
    assert main(["bench", "synthetic", "--out", out, "--no-realm-summary", "--summary-factors-only"]) == 1


@pytest.mark.parametrize("only", [False, True])
@pytest.mark.parametrize("mode", ["deep", "wide", "wide_deep"])
def test_model_sized_for_factors_reads_the_factor_rows(mode: str, only: bool) -> None:
    torch.manual_seed(0)
    model = RealmModel(["mortality", "readmission_30d"], 4, 3, 2, encoder=lambda f, v, s: GRUEncoder(f, v, s, hidden=8),
                       config=RealmConfig(hidden=8, heads=2, use_entities=False, use_summary=True, summary_mode=mode,
                                          summary_factors=2, summary_factors_only=only))
    if model.wide is not None:
        with torch.no_grad():
            model.wide.linear.weight.fill_(0.01)
    nv, ns = summary_shape(2, factors_only=only)
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


@pytest.mark.slow
def test_bench_synthetic_with_factors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_tiny_kg(monkeypatch)
    out = tmp_path / "syn.json"
    argv = ["bench", "synthetic", "--out", str(out), "--n-stays", "120", "--epochs", "1", "--hidden", "8",
            "--node-dim", "8", "--embedder", "hashing", "--n-resamples", "20", "--models", "realm",
            "--neural-seeds", "1", "--realm-summary", "--realm-summary-mode", "wide", "--summary-factors", "2",
            "--summary-factors-only"]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["settings"]["summary_factors"] == 2 and result["settings"]["realm_summary_mode"] == "wide"
    assert result["settings"]["summary_factors_only"] is True
    for task in ("mortality", "readmission_30d"):
        assert set(result["auroc"][task]["val_auroc"]) == {"oracle", "realm"}
