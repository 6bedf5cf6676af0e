"""Property tests of the LLM answer parser: whatever a model writes, parse_answer returns
a valid LLMEntities or raises LLMError (a RealmError), never anything else, and a
well-formed answer survives being wrapped in prose or a code fence."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.errors import LLMError
from realm.extract.llm_schema import LLMEntities, parse_answer

_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.text(max_size=10))
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
_ENTITY = st.fixed_dictionaries(
    {"text": st.text(min_size=1, max_size=20).filter(str.strip),
     "type": st.sampled_from(["condition", "drug", "Finding", "procedure", "other"])},
    optional={"assertion": st.sampled_from(["present", "absent", "past history", None]),
              "confidence": st.floats(min_value=0, max_value=1)})
_TRICKY = st.sampled_from([
    "", "[", "]", "{", "}", "[[[[", "{\"entities\": [", "```json\n", "```", ",]", "\"",
    "\\", "NaN", "Infinity", "1" * 5000, "[" * 3000 + "]" * 3000, "{\"a\":" * 2000,
    "\x00", "\ud800", "null", "true",
])


def _parse_or_error(answer: str) -> LLMEntities | None:
    try:
        parsed = parse_answer(answer)
    except LLMError:
        return None
    assert isinstance(parsed, LLMEntities)
    for entity in parsed.entities:
        assert entity.text.strip()
    return parsed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), _TRICKY,
                          _JSON.map(json.dumps)), max_size=6).map("".join))
def test_any_text_parses_or_raises_llm_error(answer: str) -> None:
    _parse_or_error(answer)


@settings(max_examples=200, deadline=None)
@given(_JSON.map(json.dumps), st.integers(min_value=0, max_value=200), st.data())
def test_truncated_or_garbled_json_parses_or_raises_llm_error(blob: str, cut: int, data) -> None:
    _parse_or_error(blob[: cut % (len(blob) + 1)])
    if blob:
        i = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
        _parse_or_error(blob[:i] + data.draw(st.sampled_from(list("[]{},:\"\\x"))) + blob[i + 1:])


@settings(max_examples=150, deadline=None)
@given(st.lists(_ENTITY, max_size=5), st.sampled_from(["{}", "[]", "fence", "prose"]))
def test_well_formed_answers_keep_every_entity(entities: list[dict], wrap: str) -> None:
    blob = json.dumps({"entities": entities} if wrap == "{}" else entities)
    answer = {"fence": f"Here you go:\n```json\n{blob}\n```\n", "prose": f"Sure. {blob} Done."}.get(wrap, blob)
    parsed = parse_answer(answer)
    assert [e.text for e in parsed.entities] == [e["text"] for e in entities]


@pytest.mark.parametrize("answer", ["[" * 5000 + "]" * 5000, "[" + "1" * 5000 + "]",
                                    '{"entities": [{"text": "x", "type": "drug", "confidence": ' + "9" * 5000 + "}]}"])
def test_python_json_limits_are_llm_errors(answer: str) -> None:
    with pytest.raises(LLMError):
        parse_answer(answer)
