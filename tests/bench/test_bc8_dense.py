"""Dense candidates for BC8 phrases the lexicon misses (realm.bench.bc8.dense) and ``lexicon_dense``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import realm.bench.bc8.benchmark as bench
from realm.cli import main
from realm.errors import ConfigError
from realm.bench.bc8.data import Finding, Observation
from realm.extract.sections import SectionDetector
from realm.bench.bc8.dense import (
    AnnotationMemory,
    DensePhenotyper,
    DenseThresholds,
    Phrase,
    Proposal,
    cached_kg_index,
    candidate_phrases,
    learn_thresholds,
)
from realm.kg.embedders import HashingEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

HEADER = "StringID\tParticipantCount\tText\tTerm\tNegated\tSpans\n"


def _kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("hpo")
    for node in [
        Node("HP:0001284", "Areflexia", "phenotype", synonyms=("Absent reflexes",)),
        Node("HP:0000218", "High palate", "phenotype"),
        Node("HP:0000175", "Cleft palate", "phenotype"),
        Node("HP:0000508", "Ptosis", "phenotype"),
    ]:
        kg.add_node(node)
    return kg


def test_candidate_phrases_skip_covered_spans_and_keep_the_header() -> None:
    text = "NEURO: Unable to elicit reflexes, ptosis and palate intact."
    covered = [(34, 40)]  # "ptosis"
    phrases = candidate_phrases(text, covered, SectionDetector.default())
    assert [p.text for p in phrases] == ["Unable to elicit reflexes", "palate intact"]
    assert all(p.header == "NEURO" for p in phrases)
    assert text[slice(*phrases[1].span)] == "palate intact"


def test_memory_returns_the_label_of_the_nearest_training_surface() -> None:
    text = "NEURO: Unable to elicit reflexes."
    train = [Observation("t1", text, (Finding("HP:0001284", ((7, 32),)),))]
    memory = AnnotationMemory(train, HashingEmbedder(), lambda t: t)
    near, far = memory.nearest(["unable to elicit reflexes", "zzzz qqqq"])
    assert near is not None and near.node_id == "HP:0001284" and near.score > 0.9
    assert far is not None and far.score < 0.5


def test_phenotyper_accepts_above_threshold_and_negates_normal_findings() -> None:
    kg, emb = _kg(), HashingEmbedder()
    train = [
        Observation("t1", "NEURO: Unable to elicit reflexes.", (Finding("HP:0001284", ((7, 32),)),)),
        Observation("t2", "MOUTH: Palate intact", (Finding("HP:0000175", ((7, 20),), True),)),
    ]
    index = cached_kg_index(kg, emb, cache=False)
    dense = DensePhenotyper.build(kg, train, emb, index, lambda t: t, DenseThresholds(0.8, 1.01))
    text = "MOUTH: palate intact; unable to elicit reflexes"
    found = {f.term: f for f in dense(text, covered=[])}
    assert set(found) == {"HP:0000175", "HP:0001284"}
    assert found["HP:0000175"].negated and not found["HP:0001284"].negated
    assert text[slice(*found["HP:0001284"].spans[0])] == "unable to elicit reflexes"
    # nothing clears a threshold above every cosine
    strict = DensePhenotyper.build(kg, train, emb, index, lambda t: t, DenseThresholds(1.01, 1.01))
    assert strict(text, covered=[]) == []


def test_cached_index_round_trips_the_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALM_CACHE", str(tmp_path))
    kg, emb = _kg(), HashingEmbedder()
    first = cached_kg_index(kg, emb)
    assert list(tmp_path.glob("bc8_dense_index/*/vectors.npy"))
    second = cached_kg_index(kg, emb)
    ids = sorted(first.ids())
    assert ids == sorted(second.ids()) and len(ids) == 5  # 4 names + 1 synonym
    np.testing.assert_allclose(first.get(ids)[0], second.get(ids)[0], atol=1e-6)


def test_learn_thresholds_picks_the_cut_between_right_and_wrong_proposals() -> None:
    tune = [Observation(f"o{i}", "x", (Finding("HP:0000508", ((0, 1),)),) if i < 2 else ()) for i in range(4)]
    phrase = Phrase((0, 1), "x", None)
    # right proposals score 0.9 and 0.8; wrong ones 0.7 and 0.6: only a cut in (0.7, 0.8] is best
    scores = [0.9, 0.8, 0.7, 0.6]
    proposals = [[(phrase, Proposal("HP:0000508", s), None)] for s in scores]
    kg, emb = _kg(), HashingEmbedder()
    dense = DensePhenotyper.build(kg, [], emb, cached_kg_index(kg, emb, cache=False), lambda t: t)
    best, f1 = learn_thresholds(tune, [[] for _ in tune], proposals, dense.decide, lambda t: t)
    assert 0.7 < best.memory <= 0.8 and f1 == pytest.approx(1.0)



def test_learn_thresholds_refuses_an_empty_grid() -> None:
    with pytest.raises(ConfigError, match="grid"):
        learn_thresholds([], [], [], lambda p, t: [], lambda t: t, grid=())

def test_lexicon_dense_system_adds_a_paraphrase_the_lexicon_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bench, "load_hpo_kg", lambda name: _kg())
    monkeypatch.setattr(bench, "_dense_embedder", lambda: HashingEmbedder())
    # each training note words the finding its own way, so the tuning part holds paraphrases
    # the lexicon (learned from the other part) misses
    words = ["any", "deep", "tendon", "knee", "ankle", "brisk", "limb", "arm"]
    rows = []
    for i, word in enumerate(words):
        text = f"NEURO: Unable to elicit {word} reflexes. Ptosis"
        end = text.index(".")
        rows.append(f"t{i}\t1\t{text}\tHP:0001284\tNA\t7-{end}\n")
        rows.append(f"t{i}\t1\t{text}\tHP:0000508\tNA\t{end + 2}-{end + 8}\n")
    train = tmp_path / "train.tsv"
    train.write_text(HEADER + "".join(rows))
    test = tmp_path / "test.tsv"
    test.write_text(HEADER + "s1\t1\tNEURO: unable to elicit leg reflexes, ptosis\tHP:0001284\tNA\t7-36\n")
    out = tmp_path / "r.json"
    args = ["bench", "bc8", "--train", str(train), "--test", str(test), "--out", str(out)]
    assert main([*args, "--systems", "lexicon,lexicon_dense"]) == 0
    systems = json.loads(out.read_text())["systems"]
    assert systems["lexicon"]["norm"]["tp"] == 0  # no dictionary surface for the paraphrase
    assert systems["lexicon_dense"]["norm"]["tp"] == 1
