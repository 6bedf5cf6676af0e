"""Precise KG names: junk-synonym rules, stop words kept out of the index, the linking check set."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from realm.bench.linking import CheckPhrase, check_set_accuracy, read_check_set
from realm.errors import DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.index import index_entries
from realm.kg.linker import Linker, LinkerConfig
from realm.kg.sources.synonyms import (RULES, count_by_rule, filter_synonyms, read_removed, removed_list_path,
                                       write_removed)
from realm.records import Node

CHECK_SET = Path(__file__).resolve().parents[2] / "kg" / "checks" / "everyday_icu_phrases.csv"
#: Accuracy@1 of the dictionary linker on the check set against the default KG, as measured
#: when the set was written (92 of 117); a change to the KG or the linker may raise it, never lower it.
DICTIONARY_ACC_AT_1 = 92 / 117


def _kg() -> KnowledgeGraph:
    nodes = [
        Node("D:1", "Acute myocardial infarction", "disease", ("Heart attack", "Infarct NOS"), source="V"),
        Node("D:2", "Heart rupture", "disease", ("Acute myocardial infarction", "cardiac rupture"), source="V"),
        Node("D:3", "Enterocolitis", "disease", ("gut inflammation",), source="V"),
        Node("D:4", "Enterocolitis of newborn", "disease", ("gut inflammation",), source="V"),
        Node("D:5", "Granuloma of skin", "disease", ("eosinophilic granuloma",), source="V"),
        Node("D:6", "Granuloma of bone", "disease", ("eosinophilic granuloma",), source="V"),
        Node("DRUG:x", "xdrug", "drug", ("tradename = Xtra", "xdrug forte"), source="W"),
        Node("P:1", "Heart rupture", "phenotype", ("Heart attack",), source="V"),  # another type: kept
    ]
    kg = KnowledgeGraph.from_nodes_edges(nodes, [], name="names")
    kg.add_edge("D:4", "D:3", "is_a")
    return kg


def test_junk_synonym_rules_remove_and_record_each_kind() -> None:
    kg = _kg()
    removed = filter_synonyms(kg)
    assert {(r.node_id, r.synonym, r.rule) for r in removed} == {
        ("D:1", "Infarct NOS", "nos"),
        ("D:2", "Acute myocardial infarction", "name_of_other"),
        ("D:4", "gut inflammation", "shared"),  # the narrower node loses it, the broader keeps it
        ("D:5", "eosinophilic granuloma", "shared"),  # siblings: neither keeps it
        ("D:6", "eosinophilic granuloma", "shared"),
        ("DRUG:x", "tradename = Xtra", "tradename"),
    }
    assert kg.node("D:1").synonyms == ("Heart attack",)
    assert kg.node("D:3").synonyms == ("gut inflammation",)
    assert kg.node("P:1").synonyms == ("Heart attack",)
    assert count_by_rule(removed) == {"tradename": 1, "nos": 1, "name_of_other": 1, "shared": 3,
                                      "shared_descriptor": 0}
    assert filter_synonyms(kg) == []  # idempotent


def test_removed_list_round_trips(tmp_path: Path) -> None:
    removed = filter_synonyms(_kg())
    assert sorted(read_removed(write_removed(removed, tmp_path / "r.csv")), key=repr) == sorted(removed, key=repr)


def test_mesh_entries_of_another_concept_are_not_merged_under_one_descriptor() -> None:
    from realm.kg.sources.mesh_dicts import build_diseases

    removed: list = []
    kg = build_diseases(removed=removed)
    rupture = kg.node("MESH:D006342")  # the dictionary files "myocardial infarction" under it
    assert rupture.name == "Heart Rupture, Post-Infarction"
    assert not {"heart attack", "myocardial infarction"} & {s.lower() for s in rupture.synonyms}
    assert ("MESH:D006342", "heart attack", "shared_descriptor") in {(r.node_id, r.synonym, r.rule) for r in removed}


def test_index_refuses_stop_word_surfaces() -> None:
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("GENE:WAS", "WAS", "gene"), Node("HP:1", "Fever", "phenotype", ("all", "pyrexia"))], [], name="s")
    refused: dict[str, int] = {}
    texts = {e.text for e in index_entries(kg, "hash", refused)}
    assert texts == {"Fever", "pyrexia"} and refused == {"stop_word": 2}


def test_check_set_has_100_reasoned_phrases() -> None:
    with CHECK_SET.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 100
    assert all(r["phrase"].strip() and r["expected"].strip() and r["reason"].strip() for r in rows)
    assert len({r["phrase"] for r in rows}) == len(rows)
    phrases = {r["phrase"] for r in rows}
    assert {"heart attack", "stroke", "kidney failure", "high blood pressure", "sugar", "a-fib", "SOB",
            "CHF exacerbation"} <= phrases


def test_check_set_reader_and_accuracy(tmp_path: Path) -> None:
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("HP:1", "Fever", "phenotype", ("pyrexia",)), Node("HP:2", "Stroke", "phenotype")], [], name="c")
    path = tmp_path / "set.csv"
    path.write_text("phrase,expected,reason\npyrexia,HP:1,synonym\nstroke,HP:1|HP:9,wrong on purpose\n")
    with pytest.raises(DataError, match=r"row 3.*HP:9"):
        read_check_set(path, kg)
    path.write_text("phrase,expected,reason\npyrexia,HP:1,synonym\nstroke,HP:1,wrong on purpose\n")
    phrases = read_check_set(path, kg)
    assert phrases[0] == CheckPhrase("pyrexia", ("HP:1",), "synonym")
    acc, rows = check_set_accuracy(Linker(kg, None, None, LinkerConfig(dense=False)), phrases)
    assert acc == 0.5 and rows[1] == {"phrase": "stroke", "linked": "HP:2", "correct": False}


@pytest.mark.slow
def test_default_kg_names_and_check_set_accuracy() -> None:
    """On the default KG: the committed review list is what the build removes, and the
    dictionary linker's accuracy@1 on the check set holds."""
    from realm.kg.default import build_default_kg

    removed: list = []
    kg = build_default_kg(progress=False, removed=removed)
    assert sorted(read_removed(removed_list_path()), key=repr) == sorted(removed, key=repr)
    dictionary = Linker(kg, None, None, LinkerConfig(dense=False))
    assert [c.node_id for c in dictionary.link("heart attack", k=5)] == ["HP:0001658"]
    acc, _ = check_set_accuracy(dictionary, read_check_set(CHECK_SET, kg))
    assert acc >= DICTIONARY_ACC_AT_1


def test_kg_stats_count_refused_stop_word_surfaces() -> None:
    from realm.cli.kg import format_stats

    kg = KnowledgeGraph.from_nodes_edges([Node("GENE:WAS", "WAS", "gene"), Node("HP:1", "Fever", "phenotype")], [],
                                         name="s")
    lines = format_stats(kg).splitlines()
    assert any(line.split()[:4] == ["stop-word", "surfaces", "refused", "1"] for line in lines)
    assert any(line.startswith("removed synonyms: shared_descriptor") for line in lines)
