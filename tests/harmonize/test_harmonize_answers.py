"""The answer parser and the vote: drifting formats, out-of-set replies, disagreement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.errors import ConfigError
from realm.harmonize import UNSURE, custom_task, get_task, normalize_generic, parse_answer, vote


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("oral", "oral"),
        ("The route is: Oral.", "oral"),
        ("**Answer:** Injectable", "injectable"),
        ('"topical"', "topical"),
        ("Intravenous", "injectable"),
        ("IV", "injectable"),
        ("by mouth", "oral"),
        ("Inhalant\nBecause IH means inhaled.", "inhalant"),
        ("Answer: rectal - given as a suppository", "rectal"),
    ],
)
def test_route_replies_in_drifting_formats_map_onto_the_class_set(reply: str, expected: str) -> None:
    parsed = parse_answer(get_task("route"), reply)
    assert (parsed.value, parsed.status) == (expected, "ok")


@pytest.mark.parametrize("reply", ["intraocular implant", "oral or injectable", "", "42", "Sure! Here you go:"])
def test_out_of_set_or_ambiguous_route_replies_are_unparseable(reply: str) -> None:
    parsed = parse_answer(get_task("route"), reply)
    assert parsed.status == "unparseable" and parsed.value is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("Yes", "yes"), ("no.", "no"), ("No, this is not an antibiotic.", "no"), ("TRUE", "yes"),
     ("Answer: yes (it is a cephalosporin)", "yes")],
)
def test_binary_replies(reply: str, expected: str) -> None:
    assert parse_answer(get_task("antibiotic"), reply).value == expected


@pytest.mark.parametrize("reply", ["unsure", "I'm not sure.", "Unknown", "Cannot determine from the string"])
def test_abstentions_are_unsure_not_unparseable(reply: str) -> None:
    parsed = parse_answer(get_task("antibiotic"), reply)
    assert (parsed.value, parsed.status) == (UNSURE, "unsure")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Acetaminophen", "acetaminophen"),
        ("Generic name: Oxycodone / Acetaminophen.", "acetaminophen / oxycodone"),
        ("'vancomycin' (brand: Vancocin)", "vancomycin"),
        ("piperacillin and tazobactam", "piperacillin / tazobactam"),
    ],
)
def test_generic_name_replies_are_normalised(reply: str, expected: str) -> None:
    parsed = parse_answer(get_task("generic_name"), reply)
    assert (parsed.value, parsed.status) == (expected, "ok")


def test_a_sentence_is_not_a_generic_name() -> None:
    parsed = parse_answer(get_task("generic_name"), "This medication is most likely a beta blocker used for hypertension")
    assert parsed.status == "unparseable"


def test_normalize_generic_sorts_ingredients_and_ignores_case() -> None:
    assert normalize_generic(" Trimethoprim/SULFAMETHOXAZOLE ") == "sulfamethoxazole / trimethoprim"
    assert normalize_generic("co-trimoxazole") == "co-trimoxazole"  # a hyphen does not split


def test_vote_majority_agreement_and_threshold() -> None:
    task = get_task("route")
    clear = vote(task, ["oral", "Oral.", "PO", "injectable", "The route is oral"], min_agreement=0.6)
    assert (clear.value, clear.agreement, clear.n_answers) == ("oral", 0.8, 5)
    split = vote(task, ["oral", "injectable", "oral", "injectable", "topical"], min_agreement=0.6)
    assert split.value == UNSURE and split.agreement == pytest.approx(0.4)


def test_vote_counts_unparseable_replies_against_agreement() -> None:
    outcome = vote(get_task("route"), ["oral", "oral", "banana", "nonsense reply", "¯\\_(ツ)_/¯"], min_agreement=0.5)
    assert outcome.value == UNSURE and outcome.n_unparseable == 3 and outcome.agreement == pytest.approx(0.4)


def test_vote_tie_is_unsure_even_at_zero_threshold() -> None:
    assert vote(get_task("antibiotic"), ["yes", "no"], min_agreement=0.0).value == UNSURE


def test_custom_task_validates_classes_and_shots() -> None:
    task = custom_task("beta_lactam", "Is this a beta-lactam?", ["Beta-lactam", "Other"], [("Zosyn", "beta-lactam")])
    assert task.classes == ("beta-lactam", "other")
    assert parse_answer(task, "Beta-lactam.").value == "beta-lactam"
    with pytest.raises(ConfigError):
        custom_task("x", "q", ["only-one"])
    with pytest.raises(ConfigError):
        custom_task("x", "q", ["a", "b"], [("s", "c")])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parser_never_raises_and_stays_in_the_answer_space(reply: str) -> None:
    task = get_task("route")
    parsed = parse_answer(task, reply)
    assert parsed.value in (*task.classes, UNSURE, None)
    assert (parsed.value is None) == (parsed.status == "unparseable")
