"""Concept joins: name and GEM evidence, the one-node-per-vocabulary guard, and GEM pairs."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from realm.kg.graph import KnowledgeGraph
from realm.kg.joins import Join, add_joins, gem_joins, name_joins, name_key
from realm.records import Node


def _kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("t")
    kg.add_node(Node("HP:1", "Heart failure", "phenotype", source="HPO", xrefs=("ICD-10:I50",)))
    kg.add_node(Node("MESH:D7", "Cardiac Failure", "disease", source="MeSH", synonyms=("heart failure",)))
    kg.add_node(Node("MESH:D1", "Failure, Heart", "disease", source="MeSH"))
    kg.add_node(Node("ICD10CM:I50", "Heart failure", "disease", source="ICD10CM"))
    kg.add_node(Node("ICD10CM:I50.9", "Heart failure, unspecified", "disease", source="ICD10CM"))
    kg.add_edge("ICD10CM:I50.9", "ICD10CM:I50", "is_a", "ICD10CM")
    kg.add_node(Node("ICD9CM:428", "Heart failure", "disease", source="ICD9CM"))
    kg.add_node(Node("ICD9CM:999", "Heart failure", "disease", source="ICD9CM"))  # a second, unrelated code
    kg.add_node(Node("DRUG:x", "Heart failure", "drug", source="DrugNER", xrefs=("MESH:D1",)))
    kg.add_node(Node("OMIM:2", "Wilson's disease", "disease", source="HPO"))
    kg.add_node(Node("ORPHA:3", "Wilson disease", "disease", source="HPO"))
    kg.add_node(Node("HP:4", "Wilson disease", "phenotype", source="HPO", synonyms=("failure, heart",)))
    return kg


def test_name_key_ignores_order_possessives_and_coding_words() -> None:
    assert name_key("Failure, Heart") == name_key("heart failure, unspecified") == "failure heart"
    assert name_key("Wilson's disease") == name_key("Wilson disease") == "wilson"
    assert name_key("of the") == ""


@given(st.text(max_size=40))
def test_name_key_is_idempotent_on_its_words(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key


def test_name_joins_only_nodes_of_one_type_by_preferred_name() -> None:
    kg = _kg()
    pairs = {(j.a, j.b) for j in name_joins(kg)}
    # ICD-10 "Heart failure" and its child "..., unspecified": the parent joins, the child not;
    # ICD-9 has two unrelated codes of that name: neither joins; phenotypes never join a
    # disease by name (HP:1, HP:4), drugs never join; synonyms are no evidence.
    assert pairs == {("ICD10CM:I50", "MESH:D1"), ("OMIM:2", "ORPHA:3")}


def test_guard_refuses_two_nodes_of_one_vocabulary_in_a_concept() -> None:
    kg = _kg()
    joins = [Join("HP:1", "ICD10CM:I50", "xref", "HPO"), Join("MESH:D1", "ICD10CM:I50.9", "name", "n"),
             Join("HP:1", "MESH:D1", "name", "n"), Join("ICD9CM:428", "ICD10CM:I50", "gem", "g"),
             Join("ICD9CM:999", "HP:1", "name", "n")]
    report = add_joins(kg, joins)
    assert report.added == {"xref": 1, "name": 1, "gem": 1}
    assert report.refused == {"name": 2}  # would bring a second ICD-10 and a second ICD-9 code in
    assert kg.concept_codes("ICD10CM:I50") == ("HP:1", "ICD10CM:I50", "ICD9CM:428")
    assert kg.concept_codes("MESH:D1") == ("MESH:D1", "ICD10CM:I50.9")
    assert ("HP:1", "ICD10CM:I50", "same_as", "xref:HPO") in set(kg.edges())
    assert kg.concept_stats()["joins_by_evidence"] == {"xref": 1, "name": 1, "gem": 1}


def test_gem_joins_only_exact_one_to_one_pairs(tmp_path: Path) -> None:
    kg = KnowledgeGraph("t")
    for node_id in ("ICD9CM:428.0", "ICD10CM:I50.9", "ICD9CM:401.9", "ICD10CM:I10", "ICD10CM:I15.9",
                    "ICD9CM:250.00", "ICD10CM:E11.9"):
        kg.add_node(Node(node_id, node_id, "disease"))
    header = "{},{},flags,approximate,no_map,combination,scenario,choice_list\n"
    forward = tmp_path / "f.csv"
    forward.write_text(header.format("icd9cm", "icd10cm") + "4280,I509,00000,0,0,0,0,0\n"
                       "4019,I10,00000,0,0,0,0,0\n4019,I159,00000,0,0,0,0,0\n25000,E119,10000,1,0,0,0,0\n")
    backward = tmp_path / "b.csv"
    backward.write_text(header.format("icd10cm", "icd9cm") + "I509,4280,00000,0,0,0,0,0\n"
                        "I10,4019,00000,0,0,0,0,0\nE119,25000,10000,1,0,0,0,0\n")
    # 401.9 maps to two codes; 250.00 <-> E11.9 is approximate: only 428.0 <-> I50.9 joins
    assert gem_joins(kg, forward, backward) == [Join("ICD9CM:428.0", "ICD10CM:I50.9", "gem", "CMS GEM")]
