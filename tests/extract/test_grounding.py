"""Parsing text answers, chunking notes, and grounding entities back into the note."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.errors import ConfigError, LLMError
from realm.extract.grounding import Chunk, chunk_text, ground, sentence_ends
from realm.extract.llm_schema import normalize_assertion, normalize_type, parse_answer
from realm.records import Assertion

ONE = '{"text": "septic shock", "type": "condition", "assertion": "present"}'


@pytest.mark.parametrize(
    "answer",
    [
        '{"entities": [' + ONE + "]}",
        "[" + ONE + "]",
        "```json\n[" + ONE + ",]\n```",
        "Sure! Here are the entities:\n```\n{\"entities\": [" + ONE + ",],}\n```\nHope this helps.",
        "The answer is " + ONE + " and nothing else.",
    ],
)
def test_parse_answer_tolerates_fences_prose_and_trailing_commas(answer: str) -> None:
    parsed = parse_answer(answer)
    assert [(e.text, e.type, e.assertion) for e in parsed.entities] == [("septic shock", "condition", "present")]


def test_parse_answer_empty_means_nothing_found() -> None:
    assert parse_answer("").entities == []
    assert parse_answer('{"entities": []}').entities == []


@pytest.mark.parametrize("answer", ["no entities here, sorry", '{"entities": [{"text": "septic shock"', '[{"type": "drug"}]'])
def test_parse_answer_rejects_unusable_answers_without_quoting_them(answer: str) -> None:
    with pytest.raises(LLMError) as info:
        parse_answer(answer)
    assert "septic" not in str(info.value) and "sorry" not in str(info.value)


def test_normalization_of_types_and_assertions() -> None:
    assert normalize_type("Condition") == "disease"
    assert normalize_type("medication") == "drug"
    assert normalize_type("Finding") == "phenotype"
    assert normalize_type("device") == "device"
    assert normalize_assertion("Absent") is Assertion.NEGATED
    assert normalize_assertion("past history") is Assertion.HISTORICAL
    assert normalize_assertion("possible") is Assertion.HYPOTHETICAL
    assert normalize_assertion(None) is None
    assert normalize_assertion("maybe?") is None


NOTE = "HPI: Pt with SEPSIS and acute  kidney\ninjury. No pneumonia. Sepsis improving."


def test_ground_exact_then_normalized_then_fuzzy() -> None:
    exact = ground("Sepsis", NOTE)
    assert exact is not None and exact.method == "exact" and NOTE[exact.start : exact.end] == "Sepsis"
    norm = ground("acute kidney injury", NOTE)
    assert norm is not None and norm.method == "normalized"
    assert NOTE[norm.start : norm.end] == "acute  kidney\ninjury"
    fuzzy = ground("acute kidny injury", NOTE)
    assert fuzzy is not None and fuzzy.method == "fuzzy" and 0.88 <= fuzzy.similarity < 1.0
    assert (fuzzy.start, fuzzy.end) == (norm.start, norm.end)


def test_ground_refuses_invented_entities_and_partial_words() -> None:
    assert ground("myocardial infarction", NOTE) is None
    assert ground("pneumon", NOTE) is None  # a truncated word is not the entity
    assert ground("   ", NOTE) is None


def test_ground_searches_only_the_chunk_and_skips_taken_occurrences() -> None:
    second = NOTE.index("Sepsis improving")
    assert ground("Sepsis", NOTE, Chunk(0, 20)) is not None  # "SEPSIS" up to case
    assert ground("Sepsis", NOTE, Chunk(0, 20)).method == "normalized"
    first = ground("sepsis", NOTE)
    again = ground("sepsis", NOTE, taken={(first.start, first.end)})
    assert again is not None and again.start == second


def test_chunk_text_ends_on_sentence_starts_and_overlaps() -> None:
    note = " ".join(f"Sentence number {i} says something about the patient." for i in range(60))
    chunks = chunk_text(note, max_chars=500, overlap=120)
    starts = set(sentence_ends(note)) | {0, len(note)}
    assert chunks[0].start == 0 and chunks[-1].end == len(note)
    for a, b in zip(chunks, chunks[1:]):
        assert a.end in starts and b.start in starts
        assert b.start < a.end  # overlap
        assert a.end - b.start <= 120
    assert all(c.end - c.start <= 500 for c in chunks)


def test_chunk_text_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError):
        chunk_text("x", max_chars=100, overlap=60)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["word", "sepsis.", "no", "AKI;", "\n", "a", "longerwordhere", "x" * 70]), min_size=0, max_size=300),
    st.integers(min_value=60, max_value=400),
)
def test_chunks_cover_the_note_in_bounded_pieces(words: list[str], max_chars: int) -> None:
    note = " ".join(words)
    chunks = chunk_text(note, max_chars=max_chars, overlap=max_chars // 5)
    assert chunks[0].start == 0 and chunks[-1].end == len(note)
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start <= a.end  # progress, no gap
    assert all(c.end - c.start <= max_chars for c in chunks)
