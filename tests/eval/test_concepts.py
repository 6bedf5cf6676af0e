"""Concepts: vocabulary duplicates of one finding are one group with all their codes, and
the KG path names the ancestor that training stays carried."""

from __future__ import annotations

from realm.eval.concepts import KnowledgePaths, concept_codes, concept_groups
from realm.kg.graph import KnowledgeGraph
from realm.records import Node


def _kg() -> KnowledgeGraph:
    nodes = [("HP:0001541", "Ascites", "phenotype"), ("ICD10CM:R18.8", "Other ascites", "disease"),
             ("ICD9CM:789.59", "Other ascites", "disease"), ("HP:0001945", "Fever", "phenotype"),
             ("HP:0002587", "Abnormality of the peritoneum", "phenotype"),
             ("HP:0001438", "Abnormality of the abdomen", "phenotype"),
             ("HP:0002586", "Peritonitis", "phenotype"), ("X:1", "Bridge", "disease"),
             ("X:2", "Other end", "disease")]
    edges = [("HP:0001541", "ICD10CM:R18.8", "same_as", "xref"),
             ("ICD9CM:789.59", "ICD10CM:R18.8", "same_as", "gem"), ("HP:0002586", "ICD10CM:R18.8", "maps_to", "GEM"),
             ("HP:0001541", "HP:0002587", "is_a", "HPO"), ("HP:0002586", "HP:0002587", "is_a", "HPO"),
             ("HP:0002587", "HP:0001438", "is_a", "HPO"),
             ("HP:0001945", "X:1", "same_as", "name"), ("X:1", "X:2", "same_as", "name")]
    return KnowledgeGraph.from_nodes_edges([Node(i, n, t) for i, n, t in nodes], edges)


def test_crosswalk_duplicates_are_one_concept_and_keep_all_codes() -> None:
    kg = _kg()
    stay = ["ICD9CM:789.59", "HP:0001541", "ICD10CM:R18.8", "HP:0001945", "X:2"]
    groups = concept_groups(kg, stay)
    ascites = {groups[n] for n in ("HP:0001541", "ICD10CM:R18.8", "ICD9CM:789.59")}
    assert len(ascites) == 1
    # Fever and X:2 are one concept through X:1 even though this stay lacks X:1 (the concept
    # is the KG's, not the stay's); peritonitis only approximately maps to ascites: its own row
    assert groups["HP:0001945"] == groups["X:2"] and len({groups["HP:0001945"], *ascites}) == 2
    assert concept_groups(kg, ["HP:0002586", "ICD10CM:R18.8"])["HP:0002586"] == "HP:0002586"
    members = [n for n in stay if groups[n] in ascites]
    assert concept_codes(kg, members) == ("HP:0001541", "ICD10CM:R18.8", "ICD9CM:789.59")


def test_nodes_of_one_mention_are_one_concept() -> None:
    groups = concept_groups(_kg(), ["HP:0001945", "HP:0002586"], [["HP:0002586", "HP:0001945"]])
    assert groups["HP:0001945"] == groups["HP:0002586"]


def test_a_kg_with_concepts_is_asked_first() -> None:
    class WithConcepts:
        def __init__(self, kg: KnowledgeGraph) -> None:
            self.kg = kg

        def concept_of(self, node_id: str) -> str | None:
            return "C:fever" if node_id in ("HP:0001945", "X:2") else None

        def concept_codes(self, concept_id: str) -> tuple[str, ...]:
            return ("HP:0001945", "X:2", "SNOMED:386661006")

    kg = WithConcepts(_kg())
    groups = concept_groups(kg, ["HP:0001945", "X:2", "HP:0001541"])
    assert groups["HP:0001945"] == groups["X:2"] != groups["HP:0001541"]
    assert concept_codes(kg, ["HP:0001945", "X:2"]) == ("HP:0001945", "SNOMED:386661006", "X:2")


def test_path_reaches_the_ancestor_training_stays_carried() -> None:
    kg = _kg()
    paths = KnowledgePaths.build(kg, {"HP:0002586": {1, 2, 3}, "HP:0001541": {4}, "X:2": {5}})
    assert paths.path("HP:0001541") == ("Ascites (1 training stay) → Abnormality of the peritoneum"
                                        " (3 training stays via 1 other code)")
    assert paths.support("HP:0001438", "HP:0001541") == (3, 1)
    assert paths.path("HP:0001945").startswith("Fever (0 training stays); no is_a ancestor")
