"""Property tests of realm.llm.failures: reading servers' error bodies, and keeping the
request's words out of error messages whatever a server echoes."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from realm.llm.failures import _PROTOCOL_WORDS, scrub, server_message
from realm.llm.fake import ScriptedHTTPError

WORDS = st.text(alphabet=st.characters(categories=("L", "Nd")), min_size=1, max_size=12)
NOTES = st.lists(WORDS, min_size=1, max_size=30).map(" ".join)


def private_words(note: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", note)} - _PROTOCOL_WORDS


@given(note=NOTES, before=st.text(max_size=80), after=st.text(max_size=80), encode=st.booleans())
def test_no_word_of_the_request_survives_an_echo(note: str, before: str, after: str, encode: bool) -> None:
    echoed = before + (json.dumps({"messages": [{"role": "user", "content": f"note:\n{note}"}]}) if encode else note) + after
    out = scrub(echoed, [note])
    assert not private_words(note) & {w.lower() for w in re.findall(r"\w+", out)}
    assert len(out) <= 300


@given(message=st.text(max_size=200).filter(lambda m: m.strip() and not m.startswith("Error code")), shape=st.sampled_from(["vllm", "tgi", "openai", "text"]))
def test_the_server_message_is_read_from_every_error_body(message: str, shape: str) -> None:
    exc = ScriptedHTTPError(400, message)
    exc.body = {"vllm": {"object": "error", "message": message, "code": 400},
                "tgi": {"error": message, "error_type": "validation"},
                "openai": {"error": {"message": message, "type": "invalid_request_error"}},
                "text": message}[shape]
    assert server_message(exc) == message.strip()
