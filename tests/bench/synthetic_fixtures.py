"""What the synthetic-bench tests share: a three-node KG in place of the default one."""

from __future__ import annotations

import pytest

from realm.kg.graph import KnowledgeGraph
from realm.records import Node


def use_tiny_kg(monkeypatch: pytest.MonkeyPatch) -> KnowledgeGraph:
    """Make every KG load in the bench return a tiny graph (sepsis, tachycardia, fever)."""
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("ICD10CM:A41.9", "Sepsis", "disease", synonyms=("septicemia",)),
         Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0001945", "Fever", "phenotype")], [])
    monkeypatch.setattr("realm.features.entities.load_kg", lambda spec, progress=False: kg)
    monkeypatch.setattr("realm.kg.spec.load_kg", lambda spec, progress=False, rebuild=False: kg)
    return kg
