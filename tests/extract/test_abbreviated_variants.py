"""Abbreviations inside longer terms: "old MI", "acute on chronic systolic CHF", "LV failure"."""

from __future__ import annotations

from realm.extract.lexicon import Lexicon, Term, abbreviated_variants
from realm.records import Node

ABBREVIATIONS = {"MI": ("myocardial infarction",), "CHF": ("congestive heart failure",),
                 "LV": ("left ventricular",)}


def _nodes() -> list[Node]:
    return [
        Node("I21", "Acute myocardial infarction", "disease"),
        Node("I25.2", "Old myocardial infarction", "disease"),
        Node("I50.0", "Congestive heart failure", "disease"),
        Node("I50.23", "Acute on chronic systolic (congestive) heart failure", "disease",
             synonyms=("acute on chronic systolic congestive heart failure",)),
        Node("I50.1", "Left ventricular failure", "disease"),
    ]


def _found(lex: Lexicon, text: str) -> list[tuple[str, set[str]]]:
    return [(text[m.start:m.end], {t.node_id for t in m.terms}) for m in lex.match(text)]


def test_abbreviation_inside_a_longer_term_matches_its_node() -> None:
    lex = Lexicon.from_nodes(_nodes(), abbreviations=ABBREVIATIONS)
    text = "Hx of acute on chronic systolic CHF, old MI; LV failure. Acute mi ruled out."
    assert _found(lex, text) == [("acute on chronic systolic CHF", {"I50.23"}), ("old MI", {"I25.2"}),
                                 ("LV failure", {"I50.1"}), ("Acute mi", {"I21"})]


def test_whole_term_abbreviations_stay_case_sensitive() -> None:
    lex = Lexicon.from_nodes(_nodes(), abbreviations=ABBREVIATIONS)
    assert _found(lex, "CHF") == [("CHF", {"I50.0"})]
    assert _found(lex, "chf mi") == []  # alone, lower case is not the abbreviation


def test_variants_substitute_once_and_never_the_whole_term() -> None:
    terms = [Term("old myocardial infarction", "I25.2", "disease"),
             Term("myocardial infarction", "I21.9", "disease"),
             Term("MI", "I21.9", "disease", "abbreviation", case_sensitive=True)]
    variants = abbreviated_variants(terms, ABBREVIATIONS)
    assert [(v.text, v.node_id, v.source, v.case_sensitive) for v in variants] == [
        ("old MI", "I25.2", "abbreviation", False)]
    assert abbreviated_variants(terms, {}) == []
