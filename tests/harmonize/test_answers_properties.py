"""Property tests of the harmonizer's reply parser: any reply a model may write is read into
the task's answer space (a class, "unsure", or a non-empty generic name) or counted as
unparseable; it never raises, and a class named plainly is always read back."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from realm.harmonize import UNSURE, custom_task, get_task, parse_answer
from realm.harmonize.tasks import BINARY_TASKS

TASKS = [get_task("route"), get_task("generic_name"), *(get_task(t) for t in BINARY_TASKS),
         custom_task("severity", "How severe?", ["mild", "moderate", "severe"])]
_PIECES = st.sampled_from(["Answer:", "**", "\"", "`", "\n", " ", "-", "/", "+", "(", ")", ":",
                           "the route is", "oral", "IV", "yes", "no", "unsure", "and", ".",
                           "\u200b", "\x00", "\r", "ｏｒａｌ", "Ⅳ", "/ /", "( )"])
REPLY = st.one_of(st.none(), st.text(max_size=60),
                  st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=10).map("".join))


@settings(max_examples=400, deadline=None)
@given(task=st.sampled_from(TASKS), reply=REPLY)
@example(task=get_task("generic_name"), reply="/")
def test_any_reply_is_a_class_unsure_or_unparseable(task, reply) -> None:
    parsed = parse_answer(task, reply)
    assert parsed.status in {"ok", "unsure", "unparseable"}
    if parsed.status == "unsure":
        assert parsed.value == UNSURE
    elif parsed.status == "unparseable":
        assert parsed.value is None
    elif task.is_open:
        assert parsed.value and parsed.value.strip() == parsed.value
    else:
        assert parsed.value in task.classes


@settings(max_examples=100, deadline=None)
@given(data=st.data(), prefix=st.sampled_from(["", "Answer: ", "**", "The answer is "]),
       suffix=st.sampled_from(["", ".", "\nBecause it is.", "**"]))
def test_a_plainly_named_class_is_read_back(data, prefix, suffix) -> None:
    task = data.draw(st.sampled_from([t for t in TASKS if not t.is_open]))
    cls = data.draw(st.sampled_from(list(task.classes)))
    parsed = parse_answer(task, f"{prefix}{cls}{suffix}")
    assert (parsed.value, parsed.status) == (cls, "ok")


@pytest.mark.parametrize("reply", ["/", " / ", "+", "( )", "/ .", "+ / +"])
def test_a_generic_name_reply_without_a_name_is_unparseable(reply: str) -> None:
    assert parse_answer(get_task("generic_name"), reply).status == "unparseable"
