"""Linker: dictionary tiers, abbreviations, type filter, dense fallback and abstention."""

from __future__ import annotations

import pytest

from realm.errors import ConfigError, KGError
from realm.kg.embedders import HashingEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.kg.index import NumpyIndex, build_index
from realm.kg.linker import Linker, LinkerConfig, normalize
from realm.records import Mention, Node

NODES = [
    Node("HP:0000218", "High palate", "phenotype", ("High arched palate",)),
    Node("HP:0000969", "Edema", "phenotype", ()),
    Node("HP:0001250", "Seizure", "phenotype", ()),
    Node("D:seizure", "Seizure", "disease", ()),
    Node("D:chf", "Congestive heart failure", "disease", ("CHF syndrome",)),
    Node("HP:0000252", "Microcephaly", "phenotype", ("Small head circumference",)),
]


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    return KnowledgeGraph.from_nodes_edges(NODES, [], name="tiny-linker")


@pytest.fixture(scope="module")
def linker(kg: KnowledgeGraph) -> Linker:
    return Linker.from_kg(kg, embedder=HashingEmbedder(dim=256))


def test_normalize_handles_case_punctuation_unicode_plural_and_british() -> None:
    assert normalize("  High-Arched   PALATES. ") == "high arched palate"
    assert normalize("Œdème") != ""  # unicode never crashes
    assert normalize("Oedema") == normalize("edema") == "edema"
    assert normalize("Anaemia") == "anemia"
    assert normalize("Café-au-lait spots") == "cafe au lait spot"


def test_exact_and_synonym_matches_win(linker: Linker) -> None:
    best = linker.link("HIGH-ARCHED PALATE")[0]
    assert (best.node_id, best.method, best.score) == ("HP:0000218", "synonym", 0.99)
    best = linker.link("high palate")[0]
    assert (best.node_id, best.method, best.name) == ("HP:0000218", "exact", "High palate")
    assert linker.link("Oedema")[0].node_id == "HP:0000969"
    assert linker.link("palate high")[0].method == "reordered"


def test_abbreviation_is_resolved(linker: Linker) -> None:
    best = linker.link("CHF")[0]
    assert (best.node_id, best.method) == ("D:chf", "abbreviation")


def test_type_filter_is_respected(linker: Linker) -> None:
    assert linker.link("Seizure", type="disease")[0].node_id == "D:seizure"
    assert linker.link("Seizure", type="phenotype")[0].node_id == "HP:0001250"
    assert {c.type for c in linker.link("small head", type="disease", k=5)} == {"disease"}


def test_dense_fallback_and_abstention(kg: KnowledgeGraph) -> None:
    emb = HashingEmbedder(dim=256)
    index = NumpyIndex()
    build_index(kg, emb, index, progress=False)
    mention = Mention("microcephalic head", ((0, 18),), "phenotype")
    permissive = Linker(kg, emb, index, LinkerConfig(threshold=0.1))
    best = permissive.link(mention.text)[0]
    assert (best.node_id, best.method) == ("HP:0000252", "dense") and best.cosine < 1.0
    linked = permissive.link_mention(mention)
    assert linked.node_id == "HP:0000252" and linked.link_score == pytest.approx(best.score)
    strict = Linker(kg, emb, index, LinkerConfig(threshold=0.95))
    assert strict.link_mention(mention).node_id is None
    assert strict.link_mention(mention).link_score is None
    # exact matches have cosine 1.0 and pass any threshold
    assert (
        strict.link_mention(Mention("High palate", ((0, 11),), "phenotype")).node_id == "HP:0000218"
    )
    both = strict.link_mentions([mention, Mention("Seizure", ((0, 7),), "disease")])
    assert [m.node_id for m in both] == [None, "D:seizure"]


def test_exact_only_linker_never_guesses(kg: KnowledgeGraph) -> None:
    exact = Linker(kg, None, None, LinkerConfig(dense=False))
    assert exact.link("microcephalic head") == []
    assert exact.link("Microcephaly")[0].node_id == "HP:0000252"
    with pytest.raises(ConfigError, match="needs an embedder"):
        Linker(kg, None, None)
    with pytest.raises(ConfigError, match="k must be"):
        exact.link("x", k=0)


def test_stale_index_is_refused(kg: KnowledgeGraph) -> None:
    emb = HashingEmbedder(dim=64)
    index = NumpyIndex()
    build_index(kg, emb, index, progress=False)
    bigger = KnowledgeGraph.from_nodes_edges(
        [*NODES, Node("HP:9", "Ptosis", "phenotype")], [], name="tiny-linker"
    )
    with pytest.raises(KGError, match="stale"):
        Linker(bigger, emb, index)


def test_candidates_are_concepts_and_mentions_carry_their_codes(kg: KnowledgeGraph) -> None:
    joined = KnowledgeGraph.from_nodes_edges(
        [*NODES, Node("ICD10CM:I50.9", "Heart failure, congestive", "disease", ("CHF",)),
         Node("MESH:D1", "Heart Failure, Congestive", "disease")],
        [("ICD10CM:I50.9", "D:chf", "same_as", "name:t"), ("MESH:D1", "D:chf", "same_as", "name:t")],
        name="joined")
    exact = Linker(joined, None, None, LinkerConfig(dense=False, abbreviations=False))
    top = exact.link("congestive heart failure", k=5)
    # three nodes name it (all reordered/exact hits): one candidate, the exact name standing for it
    assert [c.node_id for c in top] == ["D:chf"]
    assert top[0].concept_id == "MESH:D1" and top[0].codes == ("MESH:D1", "D:chf", "ICD10CM:I50.9")
    linked = exact.link_mention(Mention("CHF", ((0, 3),), "disease"))
    assert linked.node_id == "ICD10CM:I50.9"  # the node matched is kept
    assert linked.concept_id == "MESH:D1" and linked.codes == ("MESH:D1", "D:chf", "ICD10CM:I50.9")
    assert exact.link_mentions([linked])[0].codes == linked.codes
    missed = exact.link_mention(linked.__class__("no such thing", ((0, 13),), "disease"))
    assert missed.node_id is None and missed.concept_id is None and missed.codes == ()
    # a KG without joins: every node is its own concept
    assert Linker(kg, None, None, LinkerConfig(dense=False)).link("Seizure")[0].codes in {("HP:0001250",), ("D:seizure",)}
