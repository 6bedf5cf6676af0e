"""`realm bench bc8 --llm-config`: the llm and ensemble systems with a scripted chat model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import realm.bench.bc8.benchmark as bench
from realm.cli import main
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

HEADER = "StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n"
S1 = "EYES: no ptosis. Hypertelorism"
S2 = "FACE: prominent philtrum"


def _kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("hpo")
    for node in [Node("HP:0000508", "Ptosis", "phenotype"), Node("HP:0000316", "Hypertelorism", "phenotype"),
                 Node("HP:0000343", "Long philtrum", "phenotype")]:
        kg.add_node(node)
    return kg


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    train, test, config = tmp_path / "train.tsv", tmp_path / "test.tsv", tmp_path / "llm.yaml"
    train.write_text(HEADER + "t1\t1\tEYES: ptosis\tHP:0000508\tNA\t6-12\nt2\t1\tEYES: hypertelorism\tHP:0000316\tNA\t6-19\n")
    test.write_text(HEADER + f"s1\t1\t{S1}\tHP:0000508\tX\t6-15\ns1\t1\t{S1}\tHP:0000316\tNA\t17-30\n"
                    f"s2\t1\t{S2}\tHP:0000343\tNA\t6-24\n")
    answers = {
        "ptosis": {"entities": [{"text": "ptosis", "type": "finding", "assertion": "negated"},
                                {"text": "Hypertelorism", "type": "finding"},
                                {"text": "cleft lip", "type": "finding"}]},  # not in the text: dropped
        "philtrum": {"entities": [{"text": "prominent philtrum", "type": "finding"}]},  # no HPO surface
    }
    config.write_text(json.dumps({
        "model": {"class_path": "realm.llm.fake.ScriptedToolChatModel", "kwargs": {"by_substring": answers}},
        "extractor": {"max_concurrency": 2, "backoff": 0.0, "cache": False, "progress": False},
    }))
    return train, test, config


def test_llm_and_ensemble_systems_score_linked_grounded_mentions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test, config = _files(tmp_path)
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: _kg())
    out = tmp_path / "r.json"
    assert main(["bench", "bc8", "--train", str(train), "--test", str(test), "--out", str(out),
                 "--systems", "lexicon,llm,ensemble", "--llm-config", str(config)]) == 0
    systems = json.loads(out.read_text())["systems"]
    llm = systems["llm"]
    assert (llm["norm"]["tp"], llm["norm"]["n_pred"], llm["norm"]["n_gold"]) == (2, 2, 3)
    assert llm["negation_acc"] == pytest.approx(1.0)  # "no ptosis" kept the model's assertion
    assert llm["llm"]["hallucinations"] == 1 and llm["llm"]["unlinked_mentions"] == 1
    assert llm["llm"]["notes_per_s"] > 0
    assert systems["ensemble"]["norm"]["tp"] >= max(systems["lexicon"]["norm"]["tp"], llm["norm"]["tp"])


def test_llm_systems_need_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    train, test, _ = _files(tmp_path)
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: _kg())
    args = ["bench", "bc8", "--train", str(train), "--test", str(test), "--out", str(tmp_path / "r.json")]
    assert main([*args, "--systems", "ensemble"]) == 1
    assert "need --llm-config" in caplog.text


def test_the_llm_system_asks_for_phenotypes_not_the_icu_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.llm_dialects import serving

    train, test, config = _files(tmp_path)
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: _kg())
    with serving("vllm") as server:
        config.write_text(json.dumps({
            "model": {"provider": "openai", "model": "fake", "base_url": server.url, "kwargs": {"max_retries": 0}},
            "extractor": {"backoff": 0.0, "cache": False, "progress": False}}))
        assert main(["bench", "bc8", "--train", str(train), "--test", str(test), "--out", str(tmp_path / "r.json"),
                     "--systems", "llm", "--llm-config", str(config)]) == 0
    body = server.bodies[0]
    system = body["messages"][0]["content"]
    assert "- phenotype: observable traits" in system and "drug" not in system
    entity = body["tools"][0]["function"]["parameters"]["properties"]["entities"]["items"]["properties"]
    assert entity["type"]["enum"] == ["phenotype", "finding"]
    assert entity["assertion"]["enum"] == ["present", "negated", "historical", "family", "hypothetical"]
    assert json.loads((tmp_path / "r.json").read_text())["systems"]["llm"]["llm"]["method"] == "tools"
