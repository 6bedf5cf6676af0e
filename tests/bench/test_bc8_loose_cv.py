"""`lexicon_loose`, the small-data fallback of `lexicon`, and `--cv-folds` cross-validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import realm.bench.bc8.benchmark as bench
from realm.cli import main
from realm.bench.bc8.data import Finding, Observation
from realm.kg.graph import KnowledgeGraph
from realm.records import Node
from tests.bench.bc8_fixtures import HEADER, run_bc8



def _kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("hpo")
    for node in [
        Node("HP:0000343", "Long philtrum", "phenotype"),
        Node("HP:0000508", "Ptosis", "phenotype"),
        Node("HP:0010751", "Dimple chin", "phenotype"),
    ]:
        kg.add_node(node)
    return kg


def test_lexicon_finds_word_forms_loosely_on_small_training_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "FACE: longer philtrum, dimpling of the chin"
    systems = run_bc8(tmp_path, monkeypatch, _kg(), "t1\t1\tEYES: ptosis\tHP:0000508\tNA\t6-12\n",
                      f"s1\t1\t{text}\tHP:0000343\tNA\t6-21\ns1\t1\t{text}\tHP:0010751\tNA\t23-43\n",
                      "lexicon_rules,lexicon_loose,lexicon")
    assert systems["lexicon_rules"]["norm"]["tp"] == 0
    # below MIN_RERANK_TRAIN observations the default decides by rule, loose matches included
    for name in ("lexicon_loose", "lexicon"):
        assert systems[name]["norm"]["r"] == pytest.approx(1.0)
        assert systems[name]["norm"]["p"] == pytest.approx(1.0)


def test_kfold_partitions_observations() -> None:
    obs = [Observation(f"o{i}", "EYES: ptosis", (Finding("HP:0000508", ((6, 12),)),)) for i in range(10)]
    folds = bench.kfold_observations(obs, 5, seed=1)
    assert len(folds) == 5
    held = [o.string_id for _, dev in folds for o in dev]
    assert sorted(held) == sorted(o.string_id for o in obs)
    assert all(len(train) + len(dev) == 10 and not {o.string_id for o in train} & {o.string_id for o in dev} for train, dev in folds)


def test_cv_flag_scores_folds_of_train_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "".join(f"t{i}\t1\tEYES: ptosis\tHP:0000508\tNA\t6-12\n" for i in range(6))
    train = tmp_path / "train.tsv"
    train.write_text(HEADER + rows)
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: _kg())
    out = tmp_path / "cv.json"
    args = ["bench", "bc8", "--train", str(train), "--out", str(out), "--systems", "exact_dictionary"]
    assert main([*args, "--cv-folds", "3", "--cv-seeds", "1,2", "--cv-max-folds", "2"]) == 0
    cv = json.loads(out.read_text())["cross_validation"]["exact_dictionary"]
    assert len(cv["folds"]) == 4 and cv["mean"] == pytest.approx(1.0)
