"""`realm bench physionet2012` end to end on two tiny generated sets (train a, test b)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
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


def _settings(folder: Path, name: str, aux: bool, **bench: object) -> Path:
    """Bench settings for a tiny run: the shipped configs with small overlays (width 8, two
    epochs, hashed node vectors, the wide summary) and, with ``aux``, the auxiliary targets."""
    providers = [{"class_path": "realm.features.entities.EntityProvider",
                  "init_args": {"source": "findings", "embedder": "hashing", "node_dim": 8}},
                 {"class_path": "realm.features.summary.SummaryProvider"}]
    if aux:
        providers.append({"class_path": "realm.features.aux_targets.AuxTargetProvider",
                          "init_args": {"columns": ["saps1", "sofa", "los_hours"], "log_columns": ["los_hours"]}})
    small = {"model": {"init_args": {"encoder": {"init_args": {"hidden": 8}}}}, "trainer": {"max_epochs": 2}}
    realm = {"model": {"init_args": {"encoder": {"init_args": {"hidden": 8}}, "config": {"hidden": 8},
                                     "wide_summary": {}, **({} if aux else {"aux_targets": None})}},
             "trainer": {"max_epochs": 2}}
    files = {"data": {"data": {"init_args": {"extra_modalities": providers}}}, "realm": realm,
             "gru": small, "transformer": small}
    settings: dict[str, object] = {"n_resamples": 50, "val_fraction": 0.25, "realm_seeds": 2, **bench}
    for key, overlay in files.items():
        path = folder / f"{name}-{key}.yaml"
        path.write_text(yaml.safe_dump(overlay))
        shipped = "data" if key == "data" else key
        settings["datamodule" if key == "data" else key] = [f"bench/physionet2012/{shipped}.yaml", str(path)]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.mark.slow
def test_bench_physionet2012_writes_every_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0002153", "Hyperkalemia", "phenotype")], [])
    monkeypatch.setattr("realm.features.entities.load_kg", lambda spec, progress=False: kg)
    _write_set(tmp_path / "data", "a", 140000, 120)
    _write_set(tmp_path / "data", "b", 150000, 40)
    out = tmp_path / "result.json"
    common = ["bench", "physionet2012", "--data", str(tmp_path / "data"), "--train-sets", "a", "--test-set", "b"]

    def settings(name: str, aux: bool = False, **bench: object) -> list[str]:
        return ["--config", str(_settings(tmp_path, name, aux, **bench))]

    code = main([*common, "--out", str(out), *settings("one", realm_jobs=1, realm_folds=0)])
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
    assert result["realm_seeds"] == 2 and result["settings"]["train_sets"] == ["a"]
    predictions = pd.read_parquet(result["predictions"])
    assert len(predictions) == 40 and predictions["stay_id"].is_unique
    assert set(predictions.columns) >= {"subject_id", "mortality", "realm", "gru", "transformer", "gbm", "lr"}
    assert roc_auc_score(predictions["mortality"], predictions["gbm"]) == pytest.approx(
        result["models"]["gbm"]["auroc"]["value"])
    assert (tmp_path / "result" / "realm" / "seed1" / "checkpoints" / "best.ckpt").is_file()  # one model per seed
    # the seeds trained in two forked processes give the very same REALM
    parallel = tmp_path / "parallel.json"
    assert main([*common, "--out", str(parallel), *settings("two", realm_jobs=2, realm_folds=0)]) == 0
    again = json.loads(parallel.read_text())
    for metric in ("auroc", "auprc", "min_se_ppv", "brier"):
        assert again["models"]["realm"][metric]["value"] == pytest.approx(result["models"]["realm"][metric]["value"])
    assert (tmp_path / "parallel" / "realm" / "seed1" / "checkpoints" / "best.ckpt").is_file()
    # cross-fitting: each seed validates on its own fold; only REALM changes (the baselines
    # keep the cohort's split), and forked workers still reproduce one process exactly
    folded = []
    for jobs in (1, 2):
        path = tmp_path / f"folds{jobs}.json"
        assert main([*common, "--out", str(path), *settings(f"folds{jobs}", aux=True, realm_folds=2,
                                                              realm_jobs=jobs)]) == 0
        folded.append(json.loads(path.read_text()))
    assert folded[0]["settings"]["realm_folds"] == 2
    for metric in ("auroc", "auprc", "min_se_ppv", "brier"):
        assert folded[1]["models"]["realm"][metric]["value"] == pytest.approx(
            folded[0]["models"]["realm"][metric]["value"])
        for name in ("gru", "gbm"):
            assert folded[0]["models"][name][metric]["value"] == pytest.approx(result["models"][name][metric]["value"])
    assert folded[0]["models"]["realm"]["brier"]["value"] != pytest.approx(
        result["models"]["realm"]["brier"]["value"], abs=1e-9)
    assert main([*common, "--out", str(tmp_path / "bad.json"), *settings("bad", realm_folds=1)]) != 0
