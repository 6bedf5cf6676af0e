"""Lexicon: leftmost-longest matching, token boundaries, offsets into odd original text."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.extract.lexicon import Lexicon, Term, load_abbreviations, load_surface_variants, normalize
from realm.extract.lexicon_extractor import LexiconExtractor
from realm.records import Assertion, Node


def _lex(*pairs: tuple[str, str]) -> Lexicon:
    return Lexicon(Term(text, node, "phenotype") for text, node in pairs)


def test_longest_match_wins_and_matches_do_not_overlap() -> None:
    lex = _lex(("palate", "P1"), ("high palate", "P2"), ("high arched palate", "P3"), ("arched", "P4"))
    text = "MOUTH: High arched palate and arched brows"
    found = [(text[m.start : m.end], m.terms[0].node_id) for m in lex.match(text)]
    assert found == [("High arched palate", "P3"), ("arched", "P4")]


def test_token_boundaries_are_respected() -> None:
    lex = _lex(("ear", "E"), ("set", "S"))
    assert lex.match("appearance: reset, unset, earring") == []
    assert [m.terms[0].node_id for m in lex.match("left ear, set")] == ["E", "S"]


def test_offsets_point_into_original_text_with_unicode_case_and_punctuation() -> None:
    lex = _lex(("low set ears", "HP:0000369"), ("cafe au lait spot", "HP:0000957"))
    text = "Ｎote — LOW‑SET\u00a0\u00a0Ears; two Café-au-LAIT spots!"
    spans = [(m.start, m.end) for m in lex.match(text)]
    assert [text[s:e] for s, e in spans] == ["LOW‑SET\u00a0\u00a0Ears", "Café-au-LAIT spots"]


def test_normalize_maps_every_character_back() -> None:
    text = "  Ÿes,  NO—Ｍaybe Éars "
    norm, starts, ends = normalize(text)
    assert norm == "yes no maybe ear"  # folded, and 'ears' stemmed
    assert len(starts) == len(ends) == len(norm)
    assert text[starts[0] : ends[2]] == "Ÿes"
    assert text[starts[13] : ends[15]] == "Éars"  # the stem's span covers the whole token


def test_abbreviations_are_case_sensitive_surfaces_of_their_expansion() -> None:
    nodes = [Node("HP:0001629", "Ventricular septal defect", "phenotype")]
    lex = Lexicon.from_nodes(nodes, abbreviations={"VSD": ("ventricular septal defect",)})
    assert [m.terms[0].node_id for m in lex.match("small VSD noted")] == ["HP:0001629"]
    assert lex.match("vsd") == []
    assert "VSD" in load_abbreviations()


def test_two_spellings_of_one_abbreviation_both_match() -> None:
    # "AFib" and "afib" name one node; each case-sensitive spelling must stay a term of its own
    nodes = [Node("HP:0005110", "Atrial fibrillation", "phenotype")]
    lex = Lexicon.from_nodes(nodes, abbreviations={"AFib": ("atrial fibrillation",),
                                                   "afib": ("atrial fibrillation",)})
    text = "AFib on admission, afib again, AFIB"
    assert [text[m.start:m.end] for m in lex.match(text)] == ["AFib", "afib"]


def test_surface_variants_match_any_case_and_only_known_expansions() -> None:
    nodes = [Node("DRUG:acetaminophen", "acetaminophen", "drug"), Node("HP:0001945", "Fever", "phenotype")]
    lex = Lexicon.from_nodes(nodes, variants={"tylenol": ("acetaminophen",), "febrile": ("fever",),
                                              "motrin": ("ibuprofen",)})  # no ibuprofen node: no term
    text = "Febrile overnight, given Tylenol; TYLENOL again; motrin held"
    found = [(text[m.start:m.end], m.terms[0].node_id, m.terms[0].source) for m in lex.match(text)]
    assert found == [("Febrile", "HP:0001945", "variant"), ("Tylenol", "DRUG:acetaminophen", "variant"),
                     ("TYLENOL", "DRUG:acetaminophen", "variant")]
    packaged = load_surface_variants()
    assert packaged["tylenol"] == ("acetaminophen",) and "levo" not in packaged  # ambiguous: left out


def test_surface_variant_table_errors_name_file_and_row(tmp_path: Path) -> None:
    from realm.errors import ConfigError

    bad = tmp_path / "variants.csv"
    bad.write_text("# a comment line\nsurface,expansion\ntylenol,acetaminophen\nfebrile,\n")
    with pytest.raises(ConfigError, match=r"variants.csv row 4: needs 'surface' and 'expansion'"):
        load_surface_variants(bad)


def test_types_filter_and_short_terms_dropped() -> None:
    nodes = [Node("D:1", "Fever", "disease"), Node("P:1", "Fever", "phenotype", ("Fe",))]
    lex = Lexicon.from_nodes(nodes, types=["phenotype"])
    assert {t.node_id for t in lex.terms()} == {"P:1"}
    assert len(lex) == 1


def test_extractor_mentions_are_grounded_and_organ_scoped() -> None:
    nodes = [Node("HP:0000369", "Low-set ears", "phenotype"), Node("HP:0000218", "High palate", "phenotype")]
    extractor = LexiconExtractor(Lexicon.from_nodes(nodes))
    text = "EARS: low set, no high palate"
    mentions = extractor.extract(text, note_id="n1")
    by_id = {m.node_id: m for m in mentions}
    assert by_id["HP:0000369"].spans == ((0, 4), (6, 13))
    assert by_id["HP:0000369"].text == "EARS low set"
    assert by_id["HP:0000218"].assertion is Assertion.NEGATED
    assert all(m.extractor == "lexicon" and m.is_grounded_in(text) for m in mentions)
    # the organ-stripped form does not fire outside its section
    assert extractor.extract("MOUTH: low set teeth") == []



_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                max_size=12).map(str.strip).filter(lambda t: bool(t) and not t.startswith("#"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_cell, _cell), min_size=1, max_size=8))
def test_surface_variant_table_round_trips_any_cells(tmp_path_factory: pytest.TempPathFactory,
                                                     rows: list[tuple[str, str]]) -> None:
    path = tmp_path_factory.mktemp("variants") / "variants.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["surface", "expansion"])
        writer.writerows(rows)
    expected: dict[str, list[str]] = {}
    for surface, expansion in rows:
        expected.setdefault(surface, []).append(expansion)
    assert load_surface_variants(path) == {k: tuple(v) for k, v in expected.items()}
