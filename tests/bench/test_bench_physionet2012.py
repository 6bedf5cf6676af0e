"""`realm bench physionet2012` end to end on two tiny generated sets (train a, test b)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from realm.cli import main
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

HEADER = "RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"


def _write_set(root: Path, letter: str, first_id: int, n: int) -> None:
    folder = root / f"set-{letter}"
    folder.mkdir(parents=True)
    outcomes = []
    for k in range(n):
        rid, dead = first_id + k, k % 2
        rows = [("00:00", "RecordID", rid), ("00:00", "Age", 50 + k), ("00:00", "Gender", k % 2),
                ("00:00", "Height", -1), ("00:00", "ICUType", 1 + k % 4), ("00:00", "Weight", 80)]
        rows += [(f"{h:02d}:00", "HR", 70 + 50 * dead + k % 5) for h in range(0, 48, 4)]
        rows += [(f"{h:02d}:30", "K", 4.0 + 2.0 * dead) for h in range(0, 48, 12)]
        (folder / f"{rid}.txt").write_text("Time,Parameter,Value\n" + "".join(f"{t},{p},{v}\n" for t, p, v in rows))
        outcomes.append(f"{rid},10,5,9,-1,{dead}")
    (root / f"Outcomes-{letter}.txt").write_text(HEADER + "\n" + "\n".join(outcomes) + "\n")


@pytest.mark.slow
def test_bench_physionet2012_writes_every_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0002153", "Hyperkalemia", "phenotype")], [])
    monkeypatch.setattr("realm.features.entities.load_kg", lambda spec, progress=False: kg)
    _write_set(tmp_path / "data", "a", 140000, 120)
    _write_set(tmp_path / "data", "b", 150000, 40)
    out = tmp_path / "result.json"
    common = ["bench", "physionet2012", "--data", str(tmp_path / "data"), "--train-sets", "a",
              "--test-set", "b", "--epochs", "2", "--hidden", "8",
              "--node-dim", "8", "--n-resamples", "50", "--embedder", "hashing", "--val-fraction", "0.25",
              "--realm-epochs", "2", "--realm-seeds", "2", "--realm-summary", "--realm-summary-mode", "wide_deep",
              "--realm-entity-dropout", "0.2", "--realm-folds", "0"]  # cross-fitting: below
    code = main([*common, "--out", str(out), "--realm-jobs", "1"])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["n_test"] == 40 and result["entities"]["nodes"] == 2
    for name in ("realm", "gru", "transformer", "gbm", "lr"):
        for metric in ("auroc", "auprc", "min_se_ppv", "brier"):
            entry = result["models"][name][metric]
            assert 0 <= entry["value"] <= 1 and len(entry["ci95"]) == 2
    assert set(result["paired"]["realm-gbm"]) == {"auroc", "auprc", "min_se_ppv", "brier"}
    assert result["models"]["gbm"]["auroc"]["value"] > 0.9  # the label is in the heart rate
    assert result["wall_seconds"] > 0 and result["peak_rss_mb"] > 0
    assert result["realm_seeds"] == 2 and result["settings"]["realm_summary"] is True
    predictions = pd.read_parquet(result["predictions"])
    assert len(predictions) == 40 and predictions["stay_id"].is_unique
    assert set(predictions.columns) >= {"subject_id", "mortality", "realm", "gru", "transformer", "gbm", "lr"}
    assert roc_auc_score(predictions["mortality"], predictions["gbm"]) == pytest.approx(
        result["models"]["gbm"]["auroc"]["value"])
    assert (tmp_path / "result" / "realm" / "seed1" / "best.ckpt").is_file()  # one model per seed
    assert result["settings"]["realm_summary_mode"] == "wide_deep"
    assert result["settings"]["realm_entity_dropout"] == 0.2
    # the seeds trained in two forked processes give the very same REALM
    parallel = tmp_path / "parallel.json"
    assert main([*common, "--out", str(parallel), "--realm-jobs", "2"]) == 0
    again = json.loads(parallel.read_text())
    for metric in ("auroc", "auprc", "min_se_ppv", "brier"):
        assert again["models"]["realm"][metric]["value"] == pytest.approx(result["models"]["realm"][metric]["value"])
    assert (tmp_path / "parallel" / "realm" / "seed1" / "best.ckpt").is_file()
    # cross-fitting: each seed validates on its own fold; only REALM changes (the baselines
    # keep the cohort's split), and forked workers still reproduce one process exactly
    folded = []
    for jobs in ("1", "2"):
        path = tmp_path / f"folds{jobs}.json"
        assert main([*common, "--out", str(path), "--realm-folds", "2", "--realm-jobs", jobs,
                     "--realm-aux-targets", "saps1,sofa,los_hours"]) == 0
        folded.append(json.loads(path.read_text()))
    assert folded[0]["settings"]["realm_folds"] == 2
    assert folded[0]["settings"]["realm_aux_targets"] == "saps1,sofa,los_hours"
    for metric in ("auroc", "auprc", "min_se_ppv", "brier"):
        assert folded[1]["models"]["realm"][metric]["value"] == pytest.approx(
            folded[0]["models"]["realm"][metric]["value"])
        for name in ("gru", "gbm"):
            assert folded[0]["models"][name][metric]["value"] == pytest.approx(result["models"][name][metric]["value"])
    assert folded[0]["models"]["realm"]["brier"]["value"] != pytest.approx(
        result["models"]["realm"]["brier"]["value"], abs=1e-9)
    assert main([*common, "--out", str(tmp_path / "bad.json"), "--realm-folds", "1"]) != 0
