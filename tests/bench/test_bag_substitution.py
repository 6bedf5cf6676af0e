"""Bag-of-words matches, learned word substitutions, compound variants and the learned choice
between ids of one surface (realm.extract.bag / substitution / preference / expansion)."""

from __future__ import annotations

from realm.extract.bag import BagMatcher
from realm.bench.bc8.data import Finding, Observation
from realm.bench.bc8.expansion import train_lexicon_extractor
from realm.extract.lexicon import Lexicon, NormalizedText, Term
from realm.extract.lexicon_extractor import LexiconExtractor
from realm.bench.bc8.preference import TermPreference, pair_stats
from realm.bench.bc8.substitution import compound_terms, learn_substitutions, substituted_terms
from realm.records import Assertion


def _lexicon(*pairs: tuple[str, str], source: str = "name") -> Lexicon:
    return Lexicon(Term(text, node, "phenotype", source) for text, node in pairs)


def _bags(lexicon: Lexicon, text: str, **kwargs: object) -> list[tuple[str, tuple[tuple[int, int], ...]]]:
    matcher = BagMatcher(lexicon, **kwargs)  # type: ignore[arg-type]
    return [(b.term.node_id, b.spans) for b in matcher.match(text, NormalizedText.of(text), [(0, len(text), None)])]


def _identity(term: str) -> str:
    return term


def test_bag_finds_reordered_words_within_one_phrase_only() -> None:
    lexicon = _lexicon(("Broad thumb", "HP:0011304"), ("Ankle clonus", "HP:0011448"))
    text = "The thumbs are broad, clonus at the left ankle"
    assert _bags(lexicon, text) == [
        ("HP:0011304", ((4, 10), (15, 20))),
        ("HP:0011448", ((22, 28), (41, 46))),
    ]
    assert _bags(lexicon, "thumbs. broad") == []  # a phrase break between the words
    assert _bags(lexicon, "thumbs long slender tapered and quite broad") == []  # wider than the slack
    assert _bags(lexicon, "thumbs long slender tapered and quite broad", slack=6) != []


def test_bag_leaves_known_readings_and_dropped_pairs_alone() -> None:
    lexicon = _lexicon(("Cleft of palate", "HP:0000175"))
    assert _bags(lexicon, "palate cleft") == [("HP:0000175", ((0, 12),))]
    # "palate cleft" reads as a surface the contiguous matcher owns (e.g. before its filter)
    assert _bags(lexicon, "palate cleft", known=["palate cleft"]) == []
    assert _bags(lexicon, "palate cleft", drop=[("cleft of palate", "HP:0000175")]) == []
    matcher = BagMatcher(lexicon).without([("cleft of palate", "HP:0000175")])
    assert list(matcher.terms()) == []


def test_extractor_adds_bags_for_new_ids_only_and_asserts_them() -> None:
    lexicon = _lexicon(("Broad thumb", "HP:0011304"), ("Long thumb", "HP:0032524"))
    extractor = LexiconExtractor(lexicon, organ_variants=False, bags=BagMatcher(lexicon))
    text = "HANDS: long thumb; thumbs are not broad"
    found = {(a.mention.node_id, a.via, a.mention.assertion) for a in extractor.annotate(text)}
    assert found == {("HP:0032524", "lexicon", Assertion.PRESENT), ("HP:0011304", "bag", Assertion.NEGATED)}
    # the contiguous match of Long thumb is not repeated as a bag
    text = "HANDS: long thumb, thumb long"
    assert [a.via for a in extractor.annotate(text)] == ["lexicon"]


def test_bag_word_that_modifies_another_finding_is_not_reused() -> None:
    lexicon = _lexicon(
        ("Broad nasal tip", "HP:0000455"), ("Broad nasal bridge", "HP:0000431"), ("Small ear", "HP:0008551"), ("Cupped ear", "HP:0000378")
    )
    extractor = LexiconExtractor(lexicon, organ_variants=False, bags=BagMatcher(lexicon))

    def found(text: str) -> set[tuple[str | None, str]]:
        return {(a.mention.node_id, a.via) for a in extractor.annotate(text)}

    # "broad" belongs to "broad nasal bridge": the tip is not broad
    assert found("NOSE: broad nasal bridge and bulbous tip") == {("HP:0000431", "lexicon")}
    assert found("NOSE: nasal tip is broad") == {("HP:0000455", "bag")}
    # a shared noun may carry several findings: small, cupped ears
    assert found("EARS: small cupped ears") == {("HP:0000378", "lexicon"), ("HP:0008551", "bag")}


def _obs(sid: str, text: str, *findings: tuple[str, str]) -> Observation:
    return Observation(sid, text, tuple(Finding(term, ((text.index(s), text.index(s) + len(s)),)) for term, s in findings))


def test_substitutions_need_two_ids_and_never_shadow_a_term() -> None:
    terms = [Term("Broad nasal tip", "HP:0000455", "phenotype"), Term("Broad thumb", "HP:0011304", "phenotype"),
             Term("Broad neck", "HP:0000475", "phenotype"), Term("wide neck", "HP:9999999", "phenotype")]
    one = [_obs("a", "NOSE: wide nasal tip", ("HP:0000455", "wide nasal tip"))]
    assert learn_substitutions(one, terms, resolve=_identity) == {}
    two = one + [_obs("b", "HANDS: wide thumbs", ("HP:0011304", "wide thumbs"))]
    subs = learn_substitutions(two, terms, resolve=_identity)
    assert subs == {"broad": frozenset({"wide"})}
    variants = {(t.text, t.node_id) for t in substituted_terms(terms, subs)}
    # "wide neck" already names a term: no variant of Broad neck takes its surface
    assert variants == {("wide nasal tip", "HP:0000455"), ("wide thumb", "HP:0011304")}


def test_compounds_split_and_join_with_the_terms_own_words() -> None:
    terms = [Term("Upturned earlobe", "HP:0009909", "phenotype"), Term("Small ear lobe", "HP:0000385", "phenotype"),
             Term("Fetal finger pad", "HP:0001212", "phenotype"), Term("Fingerpad crease", "HP:1", "phenotype"),
             Term("Upturned nose", "HP:0000463", "phenotype")]
    texts = {(t.text, t.node_id) for t in compound_terms(terms)}
    assert ("upturned ear lobe", "HP:0009909") in texts
    assert ("fetal fingerpad", "HP:0001212") in texts
    assert ("small earlobe", "HP:0000385") in texts


def test_learned_preference_keeps_the_id_annotators_code() -> None:
    lexicon = _lexicon(("ear pit", "HP:0004467"), ("ear pit", "HP:0030025"))
    train = [_obs(str(i), "EARS: ear pit on the right", ("HP:0004467", "ear pit")) for i in range(3)]
    plain = LexiconExtractor(lexicon, organ_variants=False)
    assert {a.mention.node_id for a in plain.annotate("EARS: ear pit")} == {"HP:0004467", "HP:0030025"}
    stats = pair_stats(plain, train, resolve=_identity)
    assert stats.hits[("ear pit", "HP:0030025")] == 3 and stats.right[("ear pit", "HP:0030025")] == 0
    prefer = TermPreference(stats)
    chosen = LexiconExtractor(lexicon, organ_variants=False, preference=prefer)
    assert [a.mention.node_id for a in chosen.annotate("EARS: left ear pit")] == ["HP:0004467"]


def test_trained_extractor_finds_a_reordered_finding_it_never_saw() -> None:
    base = _lexicon(("Broad thumb", "HP:0011304"), ("Ptosis", "HP:0000508"))
    train = [_obs("t1", "EYES: ptosis", ("HP:0000508", "ptosis"))]
    extractor, report = train_lexicon_extractor(base, train, resolve=_identity)
    text = "HANDS FEET: the thumbs are broad"
    assert [(a.mention.node_id, a.via) for a in extractor.annotate(text)] == [("HP:0011304", "bag")]
    off, _ = train_lexicon_extractor(base, train, resolve=_identity, bags=False)
    assert off.annotate(text) == []
