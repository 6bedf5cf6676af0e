"""Node embeddings: node text, shapes, determinism, per-version cache."""

from __future__ import annotations

import numpy as np
import pytest

from realm.errors import ConfigError
from realm.kg import node_embeddings as ne
from realm.kg.embedders import HashingEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.records import Node


def make_kg(extra: bool = False) -> KnowledgeGraph:
    nodes = [
        Node("D:hf", "Heart failure", "disease", definition="The heart cannot pump enough blood."),
        Node("D:hd", "Heart disease", "disease"),
        Node("P:dys", "Dyspnea", "phenotype"),
        Node("P:ede", "Edema", "phenotype"),
        Node("G:x", "GENEX", "gene"),
    ]
    edges = [
        ("D:hf", "D:hd", "is_a", "t"),
        ("D:hf", "P:dys", "has_phenotype", "t"),
        ("D:hf", "P:ede", "has_phenotype", "t"),
        ("G:x", "D:hd", "associated_with", "t"),
    ]
    if extra:
        nodes.append(Node("P:cough", "Cough", "phenotype"))
        edges.append(("D:hf", "P:cough", "has_phenotype", "t"))
    return KnowledgeGraph.from_nodes_edges(nodes, edges, name="tiny-ne")


def test_node_text_holds_name_definition_and_relations() -> None:
    text = ne.node_text(make_kg(), "D:hf")
    assert text.startswith("Heart failure. The heart cannot pump enough blood.")
    assert "has_phenotype: Dyspnea, Edema" in text and "is_a: Heart disease" in text
    assert "inverse associated_with: GENEX" in ne.node_text(make_kg(), "D:hd")


def test_struct_embeddings_are_deterministic_per_seed() -> None:
    kg = make_kg()
    ids, a = ne.node_embeddings(kg, kind="struct", dim=16, epochs=3, cache=False, progress=False)
    _, b = ne.node_embeddings(kg, kind="struct", dim=16, epochs=3, cache=False, progress=False)
    _, c = ne.node_embeddings(
        kg, kind="struct", dim=16, epochs=3, seed=1, cache=False, progress=False
    )
    assert ids == sorted(n.id for n in kg.nodes()) and a.shape == (5, 16) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)


def test_text_embeddings_are_cached_per_kg_version(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = HashingEmbedder(dim=32)
    ids, first = ne.node_embeddings(make_kg(), emb, kind="text", progress=False)
    assert first.shape == (5, 32)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("recomputed despite a cached result")

    monkeypatch.setattr(ne, "text_embeddings", boom)
    ids2, again = ne.node_embeddings(make_kg(), emb, kind="text", progress=False)
    assert ids2 == ids
    np.testing.assert_array_equal(first, again)
    with pytest.raises(
        AssertionError, match="recomputed"
    ):  # a new version never reads the old file
        ne.node_embeddings(make_kg(extra=True), emb, kind="text", progress=False)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="need an embedder"):
        ne.node_embeddings(make_kg(), kind="text")
    with pytest.raises(ConfigError, match="unknown node embedding kind"):
        ne.node_embeddings(make_kg(), HashingEmbedder(), kind="graph")  # type: ignore[arg-type]
