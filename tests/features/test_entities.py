"""EntityProvider: mentions -> padded entity tensors; findings; selection; KG checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import realm.features.entities as knowledge
from realm.errors import DataError, KGError
from realm.extract.mentions_table import conform_mentions, write_mentions
from realm.kg.graph import KnowledgeGraph
from realm.extract.findings import LabRule, timeseries_findings
from realm.features.entities import EntityProvider, ancestor_vectors, finding_numbers
from realm.records import Node
from tests.features.entity_fixtures import save_three_stays


def tiny_kg() -> KnowledgeGraph:
    nodes = [Node("ICD10CM:A41", "Sepsis", "category"), Node("ICD10CM:A41.0", "Sepsis due to S. aureus", "disease"),
             Node("ICD10CM:A41.01", "MSSA sepsis", "disease"), Node("ICD10CM:A41.02", "MRSA sepsis", "disease"),
             Node("ICD10CM:J18", "Pneumonia", "category"), Node("ICD10CM:J18.9", "Pneumonia, unspecified", "disease"),
             Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0002153", "Hyperkalemia", "phenotype")]
    edges = [("ICD10CM:A41.0", "ICD10CM:A41", "is_a", "t"), ("ICD10CM:A41.01", "ICD10CM:A41.0", "is_a", "t"),
             ("ICD10CM:A41.02", "ICD10CM:A41.0", "is_a", "t"), ("ICD10CM:J18.9", "ICD10CM:J18", "is_a", "t")]
    return KnowledgeGraph.from_nodes_edges(nodes, edges, name="tiny")


@pytest.fixture()
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(knowledge, "load_kg", lambda spec, progress=False: tiny_kg())
    events = pd.DataFrame({"stay_id": [1, 1, 2], "hours": [1.0, 2.0, 3.0], "variable": "heart_rate",
                           "value": [130.0, 125.0, 80.0]})
    save_three_stays(tmp_path / "c", events)
    rows = [  # stay 1: sepsis x3, negated pneumonia, present pneumonia; stay 2: one late mention
        (1, "ICD10CM:A41.01", "disease", "present", 2.0, 0.9), (1, "ICD10CM:A41.01", "disease", "present", 3.0, 0.9),
        (1, "ICD10CM:A41.01", "disease", "present", 5.0, 0.9), (1, "ICD10CM:J18.9", "disease", "negated", 1.0, 0.8),
        (1, "ICD10CM:J18.9", "disease", "present", 4.0, 0.7), (2, "ICD10CM:A41.02", "disease", "present", 60.0, 1.0),
        (1, None, "disease", "present", 1.0, None),  # unlinked: left out
    ]
    frame = pd.DataFrame(rows, columns=["stay_id", "node_id", "type", "assertion", "hours", "link_score"])
    frame = frame.assign(note_id="n", text="x", spans="[[0, 1]]", extractor="lexicon", confidence=1.0)
    conform_mentions(frame).to_parquet(tmp_path / "c" / "mentions.parquet")
    return tmp_path / "c"


def _provider(**kwargs) -> EntityProvider:
    return EntityProvider(**{"kg": "tiny", "embedder": "hashing", "node_dim": 32, **kwargs})


def test_padded_entity_tensors(cohort: Path) -> None:
    p = _provider()
    p.setup(cohort, np.array([1, 2, 3]))
    out = p.get([1, 2, 3])
    assert out["vectors"].shape == (3, 3, 32) and out["numbers"].shape == (3, 3, 7)
    assert (out["numbers"][..., 3:] == 0).all()  # note mentions carry no finding values
    assert out["mask"].tolist() == [[True] * 3, [False] * 3, [False] * 3]  # stay 2: after 48 h
    assert (out["vectors"][1:] == 0).all() and (out["node"][1:] == -1).all()
    # negated and present pneumonia stay separate, with different assertion codes
    nodes = [p.node_ids[i] for i in out["node"][0].tolist()]
    assert nodes.count("ICD10CM:J18.9") == 2
    assert sorted(out["assertion"][0].tolist()) == [1, 1, 2]
    assert out["numbers"][0].max() <= np.log1p(3) + 1e-6
    assert p.kg_version == tiny_kg().version and p.node_embedding_id


def test_most_informative_entities_are_kept(cohort: Path) -> None:
    p = _provider(max_entities=1)
    p.setup(cohort, np.array([1, 2, 3]))
    assert [p.node_ids[i] for i in p.get([1])["node"][0].tolist()] == ["ICD10CM:A41.01"]  # 3 mentions
    q = _provider(include_assertions=False)
    q.setup(cohort, np.array([1]))
    assert (q.get([1])["assertion"][0] == 1).all() and q.get([1])["mask"].sum() == 2


def test_findings_source_uses_lab_rules(cohort: Path) -> None:
    p = _provider(source="findings")
    p.setup(cohort, np.array([1, 2, 3]))
    out = p.get([1, 2])
    assert p.node_ids == ["HP:0001649"]  # heart rate > 100 in stay 1 only
    assert out["mask"].tolist() == [[True], [False]]
    assert out["numbers"][0, 0, 0] == pytest.approx(np.log1p(2))  # two abnormal values
    # worst 130 is the train median excess (scale 30): severity 1; both values abnormal;
    # last abnormal at hour 2; last value 125 still 25 beyond the threshold
    expected = [np.log1p(1.0), 1.0, 2.0 / 48, np.tanh(25 / 30)]
    assert out["numbers"][0, 0, 3:].tolist() == pytest.approx(expected, rel=1e-5)


def test_finding_numbers_scale_by_train_stays_and_see_resolution() -> None:
    rules = [LabRule("potassium", "high", 5.5, "mmol/L", "HP:0002153", "Hyperkalemia"),
             LabRule("heart_rate", "high", 100.0, "bpm", "HP:0001649", "Tachycardia"),
             LabRule("heart_rate", "low", 60.0, "bpm", "HP:0001662", "Bradycardia")]
    events = pd.DataFrame({
        "stay_id": [1, 1, 2, 2, 3, 3, 3], "hours": [1.0, 5.0, 2.0, 3.0, 1.0, 2.0, 4.0],
        "variable": ["potassium", "potassium", "potassium", "potassium", "heart_rate", "heart_rate", "heart_rate"],
        "value": [6.5, 4.0, 7.5, 7.0, 140.0, 50.0, 90.0]})
    numbers = finding_numbers(timeseries_findings(events, rules), train_stays={1, 3}, window_hours=48.0)
    sev, frac, hour, last = numbers[(1, "HP:0002153")]
    assert (sev, frac, hour) == pytest.approx((np.log1p(1.0), 0.5, 1 / 48))  # the train stay sets the scale
    assert last < 0  # back in range at hour 5: resolved
    sev2, frac2, _, last2 = numbers[(2, "HP:0002153")]  # a val stay: twice the train excess
    assert sev2 == pytest.approx(np.log1p(2.0)) and frac2 == 1.0 and last2 == pytest.approx(np.tanh(1.5))
    assert numbers[(3, "HP:0001649")][1] == pytest.approx(1 / 3)  # one of three heart rates high
    assert numbers[(3, "HP:0001662")][3] < 0  # bradycardia resolved by the last value
    assert finding_numbers(pd.DataFrame({"stay_id": [1], "node_id": ["x"]}), {1}, 48.0) == {}


def test_missing_table_and_kg_mismatch_are_refused(cohort: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="realm extract"):
        _provider(mentions_file=str(tmp_path / "none.parquet")).setup(cohort, np.array([1]))
    write_mentions(pd.read_parquet(cohort / "mentions.parquet"), {"kg": {"version": "other"}}, cohort)
    with pytest.raises(KGError, match="version other"):
        _provider().setup(cohort, np.array([1]))


def test_unknown_node_is_refused(cohort: Path) -> None:
    frame = pd.read_parquet(cohort / "mentions.parquet")
    frame.loc[0, "node_id"] = "ICD10CM:Z99"
    frame.to_parquet(cohort / "mentions.parquet")
    with pytest.raises(KGError, match="Z99"):
        _provider().setup(cohort, np.array([1]))


def test_ancestor_vectors_put_siblings_close() -> None:
    v = ancestor_vectors(tiny_kg(), ["ICD10CM:A41.01", "ICD10CM:A41.02", "ICD10CM:J18.9"], 64)
    assert v[0] @ v[1] > 0.5 > abs(v[0] @ v[2])


def test_provider_feeds_the_model(cohort: Path) -> None:
    from realm.models.realm_model import RealmConfig, RealmModel

    p = _provider()
    p.setup(cohort, np.array([1, 2, 3]))
    batch = {f"entities_{k}": v for k, v in p.get([1, 2, 3]).items()}
    batch.update(values=torch.zeros(3, 4, 2), masks=torch.zeros(3, 4, 2), deltas=torch.zeros(3, 4, 2),
                 statics=torch.zeros(3, 1), stay_id=torch.tensor([1, 2, 3]))
    model = RealmModel(["mortality"], 2, 2, 1, config=RealmConfig(hidden=16, heads=2), node_dim=32).eval()
    assert torch.isfinite(model(batch)).all()


def test_entities_are_concepts_with_the_mean_vector_of_their_codes(cohort: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kg = tiny_kg()
    kg.add_node(Node("ICD9CM:486", "Pneumonia, organism unspecified", "disease"))
    kg.add_node(Node("MESH:D011014", "Pneumonia", "disease"))
    kg.add_edge("ICD10CM:J18.9", "ICD9CM:486", "same_as", "gem:t")
    kg.add_edge("ICD10CM:J18.9", "MESH:D011014", "same_as", "name:t")
    monkeypatch.setattr(knowledge, "load_kg", lambda spec, progress=False: kg)
    frame = pd.read_parquet(cohort / "mentions.parquet")
    frame.loc[3, "node_id"] = "ICD9CM:486"  # the negated pneumonia now names the ICD-9 code
    frame.loc[4, "node_id"] = "MESH:D011014"  # the present one the MeSH descriptor
    frame.to_parquet(cohort / "mentions.parquet")
    p = _provider()
    p.setup(cohort, np.array([1, 2, 3]))
    out = p.get([1])
    nodes = [p.node_ids[i] for i in out["node"][0].tolist()]
    assert nodes.count("MESH:D011014") == 2 and "ICD9CM:486" not in p.node_ids  # one concept, two assertions
    codes = sorted(kg.concept_codes("MESH:D011014"))
    per_code = p._vectors(kg, codes)
    row = p.node_ids.index("MESH:D011014")
    assert torch.allclose(p._table[row], torch.from_numpy(per_code.mean(axis=0)), atol=1e-6)
