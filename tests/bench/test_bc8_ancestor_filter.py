"""The HPO ancestor filter, and the ``lexicon`` system of ``realm bench bc8`` that applies it
(``lexicon_flat`` does not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.bench.bc8.data import Finding
from realm.bench.bc8.linking import AncestorFilter
from realm.kg.graph import KnowledgeGraph
from realm.records import Node
from tests.bench.bc8_fixtures import run_bc8


def _kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("hpo")
    for node in [
        Node("HP:0030084", "Clinodactyly", "phenotype"),
        Node("HP:0040019", "Finger clinodactyly", "phenotype"),
        Node("HP:0004209", "Clinodactyly of the 5th finger", "phenotype"),
        Node("HP:0000508", "Ptosis", "phenotype"),
    ]:
        kg.add_node(node)
    kg.add_edge("HP:0040019", "HP:0030084", "is_a", "hpo")
    kg.add_edge("HP:0004209", "HP:0040019", "is_a", "hpo")
    return kg


def test_ancestors_are_transitive_and_dropped_only_below_a_found_descendant() -> None:
    keep = AncestorFilter(_kg())
    assert keep.ancestors("HP:0004209") == {"HP:0040019", "HP:0030084"}
    assert keep.ancestors("HP:9999999") == frozenset()
    found = [Finding("HP:0030084", ((0, 4),)), Finding("HP:0004209", ((5, 9),)), Finding("HP:0000508", ((10, 16),))]
    assert [f.term for f in keep(found)] == ["HP:0004209", "HP:0000508"]
    assert [f.term for f in keep(found[:1])] == ["HP:0030084"]


def test_lexicon_system_keeps_the_specific_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "HANDS FEET: finger clinodactyly; clinodactyly"
    systems = run_bc8(tmp_path, monkeypatch, _kg(), "t1\t1\tHANDS FEET: ptosis\tHP:0000508\tNA\t12-18\n",
                      f"s1\t1\t{text}\tHP:0040019\tNA\t12-31\n", "lexicon_flat,lexicon")
    assert systems["lexicon_flat"]["norm"]["p"] == pytest.approx(0.5)  # Clinodactyly as well
    assert systems["lexicon"]["norm"]["p"] == pytest.approx(1.0)
    assert systems["lexicon"]["norm"]["r"] == pytest.approx(1.0)
