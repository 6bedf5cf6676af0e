"""Loose matches and the learned candidate decision of the BC8 reranker."""

from __future__ import annotations

import pytest

from realm.bench.bc8.data import Finding, Observation
from realm.bench.bc8.loose import LooseMatcher, strip_suffix
from realm.bench.bc8.rerank import (
    CandidateGenerator,
    CandidateStats,
    Reranker,
    best_threshold,
    group_candidates,
    header_of,
)
from realm.errors import ExtractionError
from realm.extract.lexicon import Lexicon, Term
from realm.extract.lexicon_extractor import Annotation, LexiconExtractor
from realm.records import Assertion, Mention


def _lexicon() -> Lexicon:
    terms = [
        Term("Long philtrum", "HP:0000343", "phenotype"),
        Term("Dimple chin", "HP:0010751", "phenotype"),
        Term("Stridor", "HP:0010307", "phenotype"),
        Term("Round face", "HP:0000311", "phenotype"),
    ]
    return Lexicon(terms)


def test_strip_suffix_joins_word_forms() -> None:
    assert strip_suffix("longer") == strip_suffix("long") == "long"
    assert strip_suffix("dimpling") == strip_suffix("dimple")
    assert strip_suffix("stridorous") == strip_suffix("stridor")
    assert strip_suffix("dolichocephalic") == strip_suffix("dolichocephaly")
    assert strip_suffix("thinner") == "thin"
    assert strip_suffix("ear") == "ear"  # short words stay


def test_loose_matcher_finds_word_forms_within_one_phrase() -> None:
    matcher = LooseMatcher(_lexicon())
    text = "FACE: longer philtrum, dimpling of the chin; stridorous. long face, philtrum"
    found = {(m.term.node_id, tuple(text[s:e] for s, e in m.spans)) for m in matcher.match(text, [(6, len(text))])}
    assert ("HP:0000343", ("longer", "philtrum")) in found
    assert ("HP:0010751", ("dimpling", "chin")) in found
    assert ("HP:0010307", ("stridorous",)) in found
    # "long face, philtrum": the words sit in two phrases
    assert sum(1 for node_id, _ in found if node_id == "HP:0000343") == 1


def test_generator_adds_loose_findings_with_assertions_and_drops_pairs() -> None:
    extractor = LexiconExtractor(_lexicon(), organ_variants=False)
    generator = CandidateGenerator(extractor)
    anns = generator.annotate("FACE: Long philtrum, no dimpling of the chin")
    by_id = {a.mention.node_id: a for a in anns}
    assert by_id["HP:0000343"].via == "lexicon"
    assert by_id["HP:0010751"].via == "loose"
    assert by_id["HP:0010751"].mention.assertion is Assertion.NEGATED
    dropped = generator.without({("dimple chin", "HP:0010751")})
    assert "HP:0010751" not in {a.mention.node_id for a in dropped.annotate("FACE: dimpling of the chin")}


def test_best_threshold_maximizes_f1_counting_unproposed_gold() -> None:
    scores = [0.9, 0.8, 0.4, 0.3, 0.1]
    labels = [True, True, False, True, False]
    # keeping the top 4 gives tp 3 of 4 gold (one never proposed): F1 = 6/8
    assert best_threshold(scores, labels, n_gold=4) == 0.3
    assert best_threshold([], [], n_gold=3) == 0.5


def test_header_of() -> None:
    assert header_of("EYES: upslant") == "eye"
    assert header_of("no header here") == ""


@pytest.mark.slow
def test_reranker_learns_from_training_observations() -> None:
    lexicon = _lexicon()
    train = []
    for i in range(40):
        # annotators code "long philtrum" but never "round face" in these notes
        text = "FACE: long philtrum and round face"
        train.append(Observation(f"o{i}", text, (Finding("HP:0000343", ((6, 19),)),)))
    build = lambda obs: CandidateGenerator(LexiconExtractor(lexicon, organ_variants=False))  # noqa: E731
    reranker = Reranker.train(build, train, resolve=lambda t: t, ancestors=lambda t: frozenset(), folds=2)
    kept = {a.mention.node_id for a in reranker("FACE: round face, long philtrum")}
    assert kept == {"HP:0000343"}
    stats = CandidateStats.collect(reranker.extractor, train, lambda t: t)
    assert stats.id_gold["HP:0000343"] == 40
    assert len(group_candidates(reranker.extractor.annotate("FACE: round face"))) == 1


def test_an_annotation_without_a_term_cannot_be_scored() -> None:
    """group_candidates keeps annotations with a term; one built by hand without is refused."""
    ann = Annotation(Mention("ear pit", ((0, 7),), "phenotype", node_id="HP:0004467"))
    assert group_candidates([ann]) == []
    with pytest.raises(ExtractionError, match="HP:0004467"):
        CandidateStats().source_precision(ann)
