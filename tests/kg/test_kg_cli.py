"""``realm kg build|stats`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realm.cli import main

SPEC = str(Path(__file__).resolve().parents[2] / "kg" / "examples" / "sepsis_icu.yaml")


def test_stats_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kg", "stats", "--kg", SPEC]) == 0
    out = capsys.readouterr().out
    assert "KG sepsis_icu" in out and "nodes 13" in out
    assert "has_phenotype" in out and "drug_class" in out
    assert "codes per concept" in out and "joins by evidence" in out


def test_stats_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kg", "stats", "--kg", SPEC, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["totals"] == {"nodes": 13, "edges": 12}
    assert payload["nodes_by_type"]["disease"] == 4
    assert payload["distinct_strings"] == 37  # 13 names + 24 synonyms
    # a user KG without same_as joins: one concept per node
    assert payload["concepts"] == {"concepts": 13, "joined": 0}
    assert payload["codes_per_concept"] == {"1": 13} and payload["joins_by_evidence"] == {}


def test_build_prints_version_and_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kg", "build", "--kg", SPEC, "--rebuild", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "version" in out and "graph.json.gz" in out


def test_bad_spec_exits_nonzero() -> None:
    assert main(["kg", "stats", "--kg", "nope"]) == 1


def test_index_types_then_query_within_and_beyond_the_scope(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))
    index = ["kg", "index", "--kg", SPEC, "--embedder", "hashing", "--no-progress"]
    assert main([*index, "--types", "drug,drug_class"]) == 0
    query = ["kg", "query", "norepinephrine", "--kg", SPEC, "--embedder", "hashing", "--k", "1"]
    assert main([*query, "--type", "drug"]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "drug"
    # an untyped query searches every type: refused until the index covers them
    assert main(query) == 1
    assert main([*index, "--types", "drugs"]) == 1  # a type the KG lacks, named in the error
    assert main(index) == 0
    assert main(query) == 0
