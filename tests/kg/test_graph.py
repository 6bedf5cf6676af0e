"""KnowledgeGraph: building rules, aliases, the content version, and the on-disk round trip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import networkx as nx
import pytest

from realm.errors import KGError
from realm.kg.graph import KnowledgeGraph
from realm.records import Node


def _tiny() -> KnowledgeGraph:
    kg = KnowledgeGraph("tiny")
    kg.add_node(Node("ICD10CM:I50", "Heart failure", "category"))
    kg.add_node(Node("ICD10CM:I50.9", "Heart failure, unspecified", "disease", synonyms=("CHF",)))
    kg.add_edge("ICD10CM:I50.9", "ICD10CM:I50", "is_a", "ICD10CM")
    kg.add_alias("ICD10CM:I50.0", "ICD10CM:I50.9")
    return kg


def test_building_rules() -> None:
    kg = _tiny()
    with pytest.raises(KGError, match="duplicate node id"):
        kg.add_node(Node("ICD10CM:I50", "Again", "category"))
    with pytest.raises(KGError, match="empty name"):
        kg.add_node(Node("X:1", " ", "disease"))
    with pytest.raises(KGError, match="unknown node"):
        kg.add_edge("ICD10CM:I50", "X:404", "is_a")
    with pytest.raises(KGError, match="unknown node"):
        kg.add_alias("X:old", "X:404")
    assert kg.neighbors("ICD10CM:I50") == [("~is_a", "ICD10CM:I50.9")]


def test_resolve_follows_aliases_and_refuses_unknown() -> None:
    kg = _tiny()
    assert kg.resolve("ICD10CM:I50.9") == "ICD10CM:I50.9"
    assert kg.resolve("ICD10CM:I50.0") == "ICD10CM:I50.9"
    with pytest.raises(KGError, match="unknown node id"):
        kg.resolve("ICD10CM:Z99")


def test_version_tracks_content() -> None:
    a, b = _tiny(), _tiny()
    assert a.version == b.version
    b.add_node(Node("ICD10CM:I50.1", "Left ventricular failure", "disease"))
    assert a.version != b.version
    c = _tiny()
    c.add_alias("ICD10CM:I50.8", "ICD10CM:I50")
    assert c.version != a.version


def test_save_load_round_trip(tmp_path: Path) -> None:
    kg = _tiny()
    path = kg.save(tmp_path / "kg.json.gz")
    back = KnowledgeGraph.load(path)
    assert back.version == kg.version
    assert KnowledgeGraph.load(path, verify=True).version == kg.version
    assert list(back.edges()) == list(kg.edges())
    assert back.node("ICD10CM:I50.9").synonyms == ("CHF",)
    assert back.aliases == kg.aliases


def test_verify_detects_edited_file(tmp_path: Path) -> None:
    path = _tiny().save(tmp_path / "kg.json.gz")
    with gzip.open(path, "rt") as fh:
        payload = json.load(fh)
    payload["nodes"][0]["name"] = "Edited by hand"
    with gzip.open(path, "wt") as fh:
        json.dump(payload, fh)
    with pytest.raises(KGError, match="does not match"):
        KnowledgeGraph.load(path, verify=True)


def test_load_rejects_dangling_edge(tmp_path: Path) -> None:
    path = _tiny().save(tmp_path / "kg.json.gz")
    with gzip.open(path, "rt") as fh:
        payload = json.load(fh)
    payload["edges"].append(["ICD10CM:I50", "X:404", "is_a", "x"])
    with gzip.open(path, "wt") as fh:
        json.dump(payload, fh)
    with pytest.raises(KGError, match="invalid"):
        KnowledgeGraph.load(path)


def test_merge_and_from_networkx() -> None:
    g = nx.DiGraph()
    g.add_node("S:1", name="Sepsis", type="disease", synonyms=["septicemia"])
    g.add_node("S:2", name="Lactic acidosis", type="phenotype")
    g.add_edge("S:1", "S:2", relation="has_phenotype")
    other = KnowledgeGraph.from_networkx(g, name="mini")
    kg = _tiny()
    kg.merge(other)
    assert len(kg) == 4 and ("has_phenotype", "S:2") in kg.neighbors("S:1")
    with pytest.raises(KGError, match="duplicate node id"):
        kg.merge(other)
    bad = nx.Graph()
    bad.add_node("Q:1")
    with pytest.raises(KGError, match="lacks"):
        KnowledgeGraph.from_networkx(bad)


def test_concepts_are_same_as_components_with_a_representative_first(tmp_path: Path) -> None:
    kg = KnowledgeGraph("c")
    for node_id, name in [("ICD10CM:E83.01", "Wilson's disease"), ("OMIM:277900", "Wilson disease"),
                          ("MESH:D006527", "Hepatolenticular Degeneration"), ("HP:0001399", "Hepatic failure")]:
        kg.add_node(Node(node_id, name, "disease"))
    assert kg.concept_of("HP:0001399") == "HP:0001399"  # joined to nothing: its own concept
    assert kg.concept_codes("HP:0001399") == ("HP:0001399",)
    kg.add_edge("OMIM:277900", "ICD10CM:E83.01", "same_as", "xref")
    kg.add_edge("MESH:D006527", "OMIM:277900", "same_as", "xref")
    # MeSH ranks before OMIM and ICD as representative; the others follow sorted
    assert {kg.concept_of(n) for n in ("ICD10CM:E83.01", "OMIM:277900", "MESH:D006527")} == {"MESH:D006527"}
    assert kg.concept_codes("MESH:D006527") == ("MESH:D006527", "ICD10CM:E83.01", "OMIM:277900")
    assert kg.concept_codes("OMIM:277900") == kg.concept_codes("MESH:D006527")
    assert dict(kg.concepts()) == {"HP:0001399": ("HP:0001399",),
                                   "MESH:D006527": ("MESH:D006527", "ICD10CM:E83.01", "OMIM:277900")}
    with pytest.raises(KGError, match="unknown node"):
        kg.concept_of("X:404")
    loaded = KnowledgeGraph.load(kg.save(tmp_path / "c.json.gz"))
    assert loaded.concept_codes("ICD10CM:E83.01") == kg.concept_codes("MESH:D006527")
    kg.remove_edge("MESH:D006527", "OMIM:277900", "same_as")  # a change invalidates the table
    assert kg.concept_of("MESH:D006527") == "MESH:D006527"
    assert kg.concept_of("ICD10CM:E83.01") == "OMIM:277900"
