"""EntityProvider ancestor mentions: is_a ancestors of linked note mentions, and the back-off."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import realm.features.entities as knowledge
from realm.errors import ConfigError
from realm.extract.mentions_table import conform_mentions, entity_sets
from realm.kg.graph import KnowledgeGraph
from realm.features.entities import EntityProvider, with_ancestors
from realm.records import Node
from tests.features.entity_fixtures import STAY_IDS, save_three_stays


def tiny_kg() -> KnowledgeGraph:
    nodes = [Node("ICD10CM:A41", "Sepsis", "category"), Node("ICD10CM:A41.0", "Sepsis due to S. aureus", "disease"),
             Node("ICD10CM:A41.01", "MSSA sepsis", "disease"), Node("ICD10CM:A41.02", "MRSA sepsis", "disease"),
             Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0011675", "Arrhythmia", "phenotype")]
    edges = [("ICD10CM:A41.0", "ICD10CM:A41", "is_a", "t"), ("ICD10CM:A41.01", "ICD10CM:A41.0", "is_a", "t"),
             ("ICD10CM:A41.02", "ICD10CM:A41.0", "is_a", "t"), ("HP:0001649", "HP:0011675", "is_a", "t")]
    return KnowledgeGraph.from_nodes_edges(nodes, edges, name="tiny")


def _mentions(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (stay, note, span, node, type, assertion, link score)."""
    frame = pd.DataFrame(rows, columns=["stay_id", "note_id", "spans", "node_id", "type", "assertion", "link_score"])
    return conform_mentions(frame.assign(hours=1.0, text="x", extractor="lexicon", confidence=1.0))


def test_ancestors_count_each_mention_once_with_decayed_scores() -> None:
    m = _mentions([
        (1, "n1", "[[0, 5]]", "ICD10CM:A41.01", "disease", "present", 1.0),
        (1, "n1", "[[0, 5]]", "ICD10CM:A41.0", "disease", "present", 0.9),  # the same span links the parent too
        (1, "n2", "[[3, 9]]", "ICD10CM:A41.01", "disease", "present", 0.8),
        (1, "n2", "[[20, 30]]", "HP:0001649", "phenotype", "negated", 1.0),
    ])
    out = with_ancestors(m, tiny_kg(), depth=2, decay=0.5)
    sets = entity_sets(out)[1]
    entry = {(n, a.value): (c, s) for n, a, c, s in zip(sets.node_ids, sets.assertions, sets.counts, sets.link_scores)}
    assert entry[("ICD10CM:A41.01", "present")] == (2, 1.0)  # the direct mentions, unchanged
    assert entry[("ICD10CM:A41.0", "present")] == (2, 0.9)  # n1 directly (kept once, direct score), n2 via A41.01
    assert entry[("ICD10CM:A41", "present")] == (2, 0.45)  # best path: 0.9 (A41.0) * 0.5, not 1.0 * 0.5 ** 2
    assert ("HP:0011675", "negated") not in entry  # phenotype mentions: not a requested type
    every = entity_sets(with_ancestors(m, tiny_kg(), depth=1, types=None))[1]
    assert ("HP:0011675", "negated") in set(zip(every.node_ids, (a.value for a in every.assertions)))
    # depth 1 stops at the parent: A41 only as the parent of n1's direct A41.0 link
    assert dict(zip(every.node_ids, every.counts))["ICD10CM:A41"] == 1
    assert with_ancestors(m, tiny_kg(), depth=0) is m


def test_backoff_adds_only_trained_ancestors_of_untrained_nodes() -> None:
    m = _mentions([(1, "n1", "[[0, 5]]", "ICD10CM:A41.01", "disease", "present", 1.0),
                   (2, "n2", "[[0, 5]]", "ICD10CM:A41.02", "disease", "present", 1.0)])
    out = with_ancestors(m, tiny_kg(), depth=3, known={"ICD10CM:A41.01", "ICD10CM:A41"})
    sets = entity_sets(out)
    assert sets[1].node_ids == ("ICD10CM:A41.01",)  # a trained node: left as it is
    assert sorted(sets[2].node_ids) == ["ICD10CM:A41", "ICD10CM:A41.02"]  # A41.0: never trained on


def test_provider_backoff_uses_the_training_stays_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(knowledge, "load_kg", lambda spec, progress=False: tiny_kg())
    events = pd.DataFrame({"stay_id": [1], "hours": [1.0], "variable": "heart_rate", "value": [80.0]})
    save_three_stays(tmp_path / "c", events)
    _mentions([(1, "n1", "[[0, 5]]", "ICD10CM:A41.0", "disease", "present", 1.0),
               (3, "n3", "[[0, 5]]", "ICD10CM:A41.02", "disease", "present", 1.0),  # a test-only code
               (2, "n2", "[[0, 5]]", "ICD10CM:A41", "disease", "present", 1.0)]  # val: not a known node
              ).to_parquet(tmp_path / "c" / "mentions.parquet")
    provider = EntityProvider(kg="tiny", embedder="hashing", node_dim=16, ancestor_depth=2, ancestor_backoff=True)
    provider.setup(tmp_path / "c", STAY_IDS)
    nodes = {s: sorted(provider.node_ids[i] for i in provider.get([s])["node"][0].tolist()) for s in STAY_IDS}
    assert nodes == {1: ["ICD10CM:A41.0"], 2: ["ICD10CM:A41"], 3: ["ICD10CM:A41.0", "ICD10CM:A41.02"]}
    with pytest.raises(ConfigError):
        EntityProvider(ancestor_depth=-1)
