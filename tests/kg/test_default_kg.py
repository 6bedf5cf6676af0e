"""The default KG's parts: lab-finding table (verified against HPO), linking, sources, full build."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.errors import DataError
from realm.kg.default import distinct_strings
from realm.kg.findings_table import LabFindingRule, lab_node_id, load_lab_findings
from realm.kg.graph import KnowledgeGraph
from realm.kg.sources import crosswalk, icd9, labs
from realm.kg.spec import load_kg
from realm.records import Node


@pytest.fixture(scope="module")
def hpo() -> KnowledgeGraph:
    return load_kg("hpo", progress=False)


@pytest.mark.slow
def test_lab_table_ids_and_names_match_hpo(hpo: KnowledgeGraph) -> None:
    rules = load_lab_findings()
    assert len(rules) >= 40
    for rule in rules:
        if rule.node_id.startswith("HP:"):
            node = hpo.node(rule.node_id)  # raises if the id is not a live phenotype term
            assert node.name == rule.node_name, rule
        else:
            assert rule.node_id == lab_node_id(rule.variable, rule.direction)


def test_lab_table_required_rules() -> None:
    by_key = {(r.variable, r.direction): r for r in load_lab_findings()}
    potassium = by_key[("potassium", "high")]
    assert (potassium.threshold, potassium.unit, potassium.node_id) == (5.5, "mmol/L", "HP:0002153")
    assert by_key[("map", "low")].threshold == 65 and by_key[("map", "low")].node_id == "HP:0002615"
    assert by_key[("spo2", "low")].fires(88) and not by_key[("spo2", "low")].fires(90)
    for key in [("sodium", "high"), ("heart_rate", "low"), ("lactate", "high"), ("gcs_total", "low"),
                ("hco3", "low"), ("albumin", "low"), ("bun", "high"), ("hct", "low"), ("ph", "high")]:
        assert key in by_key


def test_lab_table_validation(tmp_path: Path) -> None:
    header = "variable,direction,threshold,unit,node_id,node_name\n"
    bad = tmp_path / "labs.csv"
    bad.write_text(header + "potassium,up,5.5,mmol/L,HP:0002153,Hyperkalemia\n")
    with pytest.raises(DataError, match=r"row 2, field 'direction'"):
        load_lab_findings(bad)
    bad.write_text(header + "kalium,high,5.5,mmol/L,HP:0002153,Hyperkalemia\n")
    with pytest.raises(DataError, match="unknown variable 'kalium'"):
        load_lab_findings(bad)
    bad.write_text(header + "potassium,high,lots,mmol/L,HP:0002153,Hyperkalemia\n")
    with pytest.raises(DataError, match="field 'threshold'"):
        load_lab_findings(bad)
    ok = tmp_path / "ok.csv"
    ok.write_text(header + "potassium,high,5.5,mmol/L,HP:0002153,Hyperkalemia\n")
    assert load_lab_findings(ok) == [LabFindingRule("potassium", "high", 5.5, "mmol/L", "HP:0002153", "Hyperkalemia")]


def test_lab_nodes_link_to_hpo(hpo: KnowledgeGraph) -> None:
    kg = KnowledgeGraph("t")
    kg.merge(hpo)
    count = labs.add_lab_findings(kg)
    assert count == len(load_lab_findings())
    assert ("indicates", "HP:0002153") in kg.neighbors("LAB:potassium_high")
    assert kg.node("LAB:troponin_i_high").type == "lab_finding"


def test_distinct_strings() -> None:
    kg = KnowledgeGraph("t")
    kg.add_node(Node("HP:1", "Heart failure", "phenotype", synonyms=("heart failure", "Cardiac failure")))
    kg.add_node(Node("MESH:D1", "Failure, Heart", "disease"))
    assert distinct_strings(kg) == 3


def test_icd9_source_and_crosswalk() -> None:
    kg = icd9.build()
    assert kg.node("ICD9CM:428.0").name == "Congestive heart failure, unspecified"
    assert ("is_a", "ICD9CM:428") in kg.neighbors("ICD9CM:428.0")
    assert kg.node("ICD9PCS:96.71").type == "procedure"
    assert not any(n.id.startswith("ICD9CM:E8") for n in kg.nodes())  # external causes left out
    kg.add_node(Node("ICD10CM:I50.9", "Heart failure, unspecified", "disease", source="ICD10CM"))
    assert crosswalk.add_crosswalk(kg) >= 2
    assert ("maps_to", "ICD10CM:I50.9") in kg.neighbors("ICD9CM:428.0")


@pytest.mark.slow
def test_full_default_kg() -> None:
    kg = load_kg("default", progress=False)
    stats = kg.stats()
    for kind in ("disease", "phenotype", "drug", "drug_class", "gene", "procedure", "lab_finding", "category"):
        assert stats["nodes_by_type"].get(kind, 0) > 0, kind
    assert distinct_strings(kg) < 150_000
    assert ("maps_to", "ICD10CM:I50.9") in kg.neighbors("ICD9CM:428.0")
    assert kg.node("DRUG:insulin_glargine").type == "drug"
    # Ascites is one concept across ICD-10, ICD-9 and MeSH (issue 21's example); HPO's
    # phenotype stays its own concept (no join rule across types kept its precision)
    assert kg.concept_codes("ICD10CM:R18") == ("MESH:D001201", "ICD10CM:R18", "ICD9CM:789.5")
    assert kg.concept_of("HP:0001541") == "HP:0001541"
    assert kg.concept_of("ORPHA:905") == kg.concept_of("OMIM:277900")  # Wilson disease
    stats = kg.concept_stats()
    assert set(stats["joins_by_evidence"]) == {"gem", "name"}
    assert load_kg("default", progress=False).version == kg.version
