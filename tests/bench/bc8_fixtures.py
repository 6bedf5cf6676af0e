"""Run ``realm bench bc8`` on tiny TSVs written from rows, over a KG given by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import realm.bench.bc8.benchmark as bench
from realm.cli import main
from realm.kg.graph import KnowledgeGraph

HEADER = "StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n"


def run_bc8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kg: KnowledgeGraph, train_rows: str,
            test_rows: str, systems: str) -> dict:
    """Write ``train.tsv`` / ``test.tsv`` (rows after the header), score ``systems``; returns
    the JSON's ``systems`` entry."""
    train, test, out = tmp_path / "train.tsv", tmp_path / "test.tsv", tmp_path / "r.json"
    train.write_text(HEADER + train_rows)
    test.write_text(HEADER + test_rows)
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: kg)
    args = ["bench", "bc8", "--train", str(train), "--test", str(test), "--out", str(out), "--systems", systems]
    assert main(args) == 0
    return json.loads(out.read_text())["systems"]
