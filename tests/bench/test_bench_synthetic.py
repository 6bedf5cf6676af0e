"""`realm bench synthetic` end to end on a tiny synthetic hospital and a stand-in KG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realm.cli import main
from realm.kg.graph import KnowledgeGraph
from realm.records import Node


@pytest.mark.slow
def test_bench_synthetic_reports_oracle_and_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("ICD10CM:A41.9", "Sepsis", "disease", synonyms=("septicemia",)),
         Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0001945", "Fever", "phenotype")], [])
    monkeypatch.setattr("realm.models.knowledge.load_kg", lambda spec, progress=False: kg)
    monkeypatch.setattr("realm.kg.spec.load_kg", lambda spec, progress=False, rebuild=False: kg)
    out = tmp_path / "syn.json"
    code = main(["bench", "synthetic", "--out", str(out), "--n-stays", "120", "--epochs", "1",
                 "--hidden", "8", "--node-dim", "8", "--embedder", "hashing"])
    assert code == 0
    result = json.loads(out.read_text())
    for task in ("mortality", "readmission_30d"):
        r = result["auroc"][task]
        assert 0 <= r["oracle"] <= 1 and 0 <= r["realm"] <= 1 and 0 <= r["timeseries"] <= 1
        assert r["realm_gap_to_oracle"] == pytest.approx(r["oracle"] - r["realm"])
    assert result["extract_counts"]["linked"] > 0
