"""Typo correction, coordinations, phrase breaks and organ-form guards of the lexicon extractor."""

from __future__ import annotations

from realm.extract.context import ConText
from realm.extract.fuzzy import Speller, within_one_edit
from realm.extract.lexicon import Lexicon, Term
from realm.extract.lexicon_extractor import LexiconExtractor
from realm.records import Assertion


def _extractor(*pairs: tuple[str, str], speller: bool = False, organ: bool = False) -> LexiconExtractor:
    lexicon = Lexicon(Term(text, node, "phenotype") for text, node in pairs)
    return LexiconExtractor(
        lexicon, organ_variants=organ, speller=Speller(lexicon.vocabulary()) if speller else None
    )


def _found(extractor: LexiconExtractor, text: str) -> list[tuple[str, str, tuple[tuple[int, int], ...]]]:
    return [(m.node_id, m.text, m.spans) for m in extractor.extract(text)]


def test_within_one_edit_covers_the_four_edits_and_nothing_more() -> None:
    assert within_one_edit("nasal", "nasasl")  # insertion
    assert within_one_edit("hypertrichosis", "hypertichosis")  # deletion
    assert within_one_edit("palmar", "palmer")  # substitution
    assert within_one_edit("telangiectasia", "telangeictasia")  # swap
    assert not within_one_edit("palmar", "plmer")
    assert not within_one_edit("nose", "nasal")


def test_speller_corrects_unknown_tokens_only_when_unambiguous() -> None:
    speller = Speller(["nasal", "bridge", "palmar", "palpebral", "asymmetry", "cheek", "check"], known=["patient"])
    assert speller.correct("nasasl") == "nasal"
    assert speller.correct("palmer") == "palmar"
    assert speller.correct("bridge") == "bridge"
    assert speller.correct("patient") == "patient"  # known words are never corrected
    assert speller.correct("symmetry") == "symmetry"  # first letter differs: another word
    assert speller.correct("cheak") == "cheak"  # cheek or check: ambiguous, left alone
    assert speller.correct("nas") == "nas"  # too short


def test_typo_is_matched_and_its_span_is_the_original_text() -> None:
    extractor = _extractor(("wide nasal bridge", "HP:0000431"), speller=True)
    text = "NOSE: wide nasasl bridge"
    assert _found(extractor, text) == [("HP:0000431", "wide nasasl bridge", ((6, 24),))]
    assert _found(_extractor(("wide nasal bridge", "HP:0000431")), text) == []


def test_shared_modifier_and_shared_head_give_discontinuous_findings() -> None:
    extractor = _extractor(
        ("sparse eyelashes", "HP:0000653"),
        ("sparse eyebrow", "HP:0045075"),
        ("flat nasal bridge", "HP:0005280"),
        ("wide nasal bridge", "HP:0000431"),
    )
    text = "EYES: sparse eyelashes and eyebrows. NOSE: wide and flat nasal bridge"
    found = _found(extractor, text)
    assert ("HP:0045075", "sparse eyebrows", ((6, 12), (27, 35))) in found
    assert ("HP:0000431", "wide nasal bridge", ((43, 47), (57, 69))) in found
    assert {f[0] for f in found} == {"HP:0000653", "HP:0045075", "HP:0005280", "HP:0000431"}
    # without a conjunction nothing is rebuilt
    assert {f[0] for f in _found(extractor, "EYES: sparse eyelashes, eyebrows thick")} == {"HP:0000653"}


def test_a_match_never_spans_phrase_punctuation() -> None:
    extractor = _extractor(
        ("brow ptosis", "HP:0031623"), ("ptosis", "HP:0000508"), ("2-3 toe syndactyly", "HP:0004691")
    )
    assert [f[0] for f in _found(extractor, "EYES: broad lateral brows, ptosis")] == ["HP:0000508"]
    assert [f[0] for f in _found(extractor, "EYES: brow ptosis")] == ["HP:0031623"]
    # a comma between digits is part of the term
    assert [f[0] for f in _found(extractor, "HANDS FEET: 2,3 toe syndactyly")] == ["HP:0004691"]


def test_organ_form_is_dropped_when_it_modifies_the_next_word() -> None:
    extractor = _extractor(("wide nose", "HP:0000445"), ("sparse hair", "HP:0008070"), organ=True)
    assert [f[0] for f in _found(extractor, "NOSE: wide and short")] == ["HP:0000445"]
    assert _found(extractor, "NOSE: wide nasal bridge") == []
    # the section's own organ word may follow: HAIR: sparse hair
    assert [f[0] for f in _found(extractor, "NAILS HAIR SKIN: sparse hair")] == ["HP:0008070"]


def test_organ_form_is_dropped_when_it_says_something_of_another_subject() -> None:
    extractor = _extractor(("large head", "HP:0000256"), ("low set ears", "HP:0000369"), organ=True)
    assert _found(extractor, "HEAD: anterior fontanelle is large") == []
    assert _found(extractor, "HEAD: fontanelle appears slightly large") == []
    # the subject is the section's own organ: the organ reading stands
    assert [f[0] for f in _found(extractor, "HEAD: head is large")] == ["HP:0000256"]
    assert [f[0] for f in _found(extractor, "EARS: both ears are low set")] == ["HP:0000369"]
    assert [f[0] for f in _found(extractor, "HEAD: large")] == ["HP:0000256"]


def test_anatomical_core_needs_a_normalcy_cue_but_a_learned_core_any_negation() -> None:
    lexicon = Lexicon(
        [
            Term("Abnormal anus morphology", "HP:0034915", "phenotype"),
            Term("telangiectases", "HP:0001009", "phenotype", "normal_only"),
        ]
    )
    extractor = LexiconExtractor(lexicon)
    def found(text: str) -> list[tuple[str, Assertion]]:
        return [(m.node_id, m.assertion) for m in extractor.extract(text)]

    assert found("GENITALIA: normal anus") == [("HP:0034915", Assertion.NEGATED)]
    assert found("GENITALIA: anus appears normal") == [("HP:0034915", Assertion.NEGATED)]
    # "no anus" is an absent anus, not a normal one; a bare part is never a finding
    assert found("GENITALIA: no anus present") == []
    assert found("GENITALIA: anus") == []
    assert found("SKIN: no telangiectases") == [("HP:0001009", Assertion.NEGATED)]
    assert found("SKIN: telangiectases") == []


def test_backward_negation_stops_at_a_comma_but_forward_negation_runs_through_a_list() -> None:
    context = ConText.default()
    text = "Hypotonia, normal cry"
    assert context.assert_spans(text, [(0, 9)]) == [None]
    text = "no webbing, cysts or pits"
    hits = context.assert_spans(text, [(3, 10), (12, 17), (21, 25)])
    assert [h.assertion if h else None for h in hits] == [Assertion.NEGATED] * 3
    assert context.assert_spans("Speech normal", [(0, 6)])[0].assertion is Assertion.NEGATED


def test_match_regions_keeps_matches_inside_one_region_and_applies_its_section() -> None:
    lexicon = Lexicon(
        [Term("low set ears", "HP:0000369", "phenotype"), Term("low set", "HP:0000369", "phenotype", section="ears")]
    )
    text = "EYES: low set\nEARS: low set"
    regions = [(5, 14, "eyes"), (19, len(text), "ears")]
    found = [(i, text[m.start : m.end]) for i, m in lexicon.match_regions(text, regions)]
    # 'low set' + header 'EARS' would read 'low set ears' across the boundary: not a match
    assert found == [(1, "low set")]
