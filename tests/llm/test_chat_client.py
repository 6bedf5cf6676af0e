"""realm.llm.client: negotiated structured output, retries on transient errors, loud permanent errors."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from realm.errors import ConfigError, LLMError
from realm.llm.client import ChatClient, RetryPolicy, TransientFailure
from realm.llm.failures import is_transient, scrub
from realm.llm.fake import ScriptedChatModel, ScriptedHTTPError, ScriptedToolChatModel
from realm.llm.methods import available_methods, message_text

MESSAGES = [SystemMessage("Answer."), HumanMessage("What is the route of PO?")]


class Route(BaseModel):
    route: str


class RateLimitError(Exception):
    pass


def http(status: int, message: str = "") -> dict:
    return {"raise": "http", "status": status, "message": message}


@pytest.mark.parametrize(("exc", "transient"), [
    (TimeoutError(), True), (ConnectionError(), True), (ScriptedHTTPError(503, ""), True), (RateLimitError(), True),
    (ScriptedHTTPError(429, ""), True), (ScriptedHTTPError(500, ""), False), (ScriptedHTTPError(400, ""), False),
    (RuntimeError(), False), (ValueError("bad key"), False),
])
def test_transient_errors_are_told_from_permanent_ones(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_a_transient_error_is_retried_with_exponential_backoff_then_answered() -> None:
    model = ScriptedChatModel(responses=[{"raise": "timeout"}, {"raise": "connection"}, "oral"])
    slept: list[float] = []
    client = ChatClient(model, retry=RetryPolicy(retries=3, backoff=0.5, max_backoff=0.75), sleep=slept.append)
    reply = client.invoke(MESSAGES)
    assert (reply.text, reply.calls, reply.retries, reply.method) == ("oral", 3, 2, "text")
    assert slept == [0.5, 0.75] and client.method == "text"


def test_retries_that_run_out_raise_a_transient_failure() -> None:
    model = ScriptedChatModel(default={"raise": "timeout"})
    slept: list[float] = []
    client = ChatClient(model, retry=RetryPolicy(retries=2, backoff=0.1), sleep=slept.append)
    with pytest.raises(TransientFailure, match="TimeoutError.*2 retries"):
        client.invoke(MESSAGES)
    assert len(model.calls) == 3 and slept == [0.1, 0.2]


def test_a_permanent_error_raises_at_once_without_the_prompt() -> None:
    model = ScriptedChatModel(responses=[{"raise": "fatal"}, "never asked"])
    with pytest.raises(LLMError, match="RuntimeError") as caught:
        ChatClient(model, sleep=pytest.fail).invoke(MESSAGES)
    assert not isinstance(caught.value, TransientFailure)
    assert "PO" not in str(caught.value) and len(model.calls) == 1


def test_a_500_is_repeated_once_then_stops_the_run_with_status_and_server_words() -> None:
    # before: a 500 was "transient", retried three times, and the caller skipped the chunk
    model = ScriptedChatModel(default=http(500, "CUDA out of memory"))
    client = ChatClient(model, retry=RetryPolicy(retries=5, backoff=0.0))
    with pytest.raises(LLMError, match="HTTP 500.*CUDA out of memory") as caught:
        client.invoke(MESSAGES)
    assert not isinstance(caught.value, TransientFailure) and len(model.calls) == 2
    assert "ScriptedChatModel" in str(caught.value)  # the endpoint: here the model class


def test_a_500_that_passes_on_the_repeat_is_answered() -> None:
    model = ScriptedChatModel(responses=[http(500, "busy"), "oral"])
    reply = ChatClient(model, retry=RetryPolicy(retries=0, backoff=0.0)).invoke(MESSAGES)
    assert (reply.text, reply.calls, reply.retries) == ("oral", 2, 1)


def test_a_tool_calling_model_answers_through_the_schema() -> None:
    model = ScriptedToolChatModel(responses=[{"route": "oral"}])
    client = ChatClient(model, schema=Route, format_instructions="\nJSON!")
    reply = client.invoke(MESSAGES)
    assert json.loads(reply.text) == {"route": "oral"} and reply.method == "tools"
    assert "JSON!" not in str(model.calls[0][0].content)  # a tool carries the schema itself


def test_a_model_without_tools_answers_text_with_the_json_form_in_the_prompt() -> None:
    model = ScriptedChatModel(responses=['{"route": "oral"}'])
    client = ChatClient(model, schema=Route, format_instructions="\nJSON!")
    assert client.negotiation.chain == ("text",)
    assert client.invoke(MESSAGES).text == '{"route": "oral"}'
    assert str(model.calls[0][0].content) == "Answer.\nJSON!"
    assert ChatClient(ScriptedToolChatModel(), schema=Route, structured="text").negotiation.chain == ("text",)


def test_a_refused_method_falls_back_once_for_the_whole_run(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedToolChatModel(responses=[http(400, "tool_choice is not supported"), '{"route": "oral"}',
                                             '{"route": "iv"}'])
    client = ChatClient(model, schema=Route)
    with caplog.at_level(logging.WARNING):
        first, second = client.invoke(MESSAGES), client.invoke(MESSAGES)
    assert (first.method, second.method, client.method) == ("text", "text", "text")
    assert (first.text, first.calls) == ('{"route": "oral"}', 2) and second.calls == 1
    refusals = [r for r in caplog.records if "refused method tools" in r.getMessage()]
    assert len(refusals) == 1 and "HTTP 400" in refusals[0].getMessage()
    assert "PO" not in caplog.text and "not supported" not in caplog.text  # method and status only


def test_concurrent_calls_negotiate_once() -> None:
    class Flaky(ScriptedToolChatModel):
        def _pick(self, messages):  # tools refused every time, text always fine
            with self._lock:
                self._calls.append(list(messages))
            return '{"route": "oral"}'

        def bind_tools(self, tools, **kwargs):
            raise NotImplementedError("no tools here")

    client = ChatClient(Flaky(), schema=Route)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: client.invoke(MESSAGES), range(8)))
    assert {r.method for r in replies} == {"text"} and client.negotiation.answered() == {"text": 8}


def test_a_forced_method_that_is_refused_is_a_loud_error() -> None:
    model = ScriptedToolChatModel(responses=[http(422, "unknown variant tools")])
    client = ChatClient(model, schema=Route, structured="tools")
    with pytest.raises(LLMError, match="through tools.*HTTP 422.*unknown variant"):
        client.invoke(MESSAGES)
    assert client.method == "tools" and len(model.calls) == 1


def test_a_4xx_that_is_not_about_the_method_stops_the_run() -> None:
    model = ScriptedToolChatModel(responses=[http(401, "invalid api key"), "never asked"])
    with pytest.raises(LLMError, match="HTTP 401.*invalid api key"):
        ChatClient(model, schema=Route).invoke(MESSAGES)
    assert len(model.calls) == 1


def test_impossible_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="structured: tools"):
        ChatClient(ScriptedChatModel(), schema=Route, structured="tools")
    with pytest.raises(ConfigError, match="auto or one of"):
        ChatClient(ScriptedChatModel(), structured="xml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="invoke"):
        ChatClient(object())
    with pytest.raises(ConfigError, match=">= 0"):
        RetryPolicy(retries=-1)


def test_methods_a_class_declares() -> None:
    from langchain_openai import ChatOpenAI

    openai = ChatOpenAI(model="m", base_url="http://127.0.0.1:1/v1", api_key="x")
    assert available_methods(openai, Route) == ("tools", "json_schema", "json_mode", "grammar", "text")
    assert available_methods(ScriptedToolChatModel(), Route) == ("tools", "text")
    assert available_methods(openai, None) == ("text",)


def test_server_words_lose_every_word_of_the_request() -> None:
    note = "Pt Johnson, MRN 4471, hypertelorism noted."
    echoed = f'response_format json_schema unsupported; request: [{{"content": "note:\\n{note}"}}]'
    out = scrub(echoed, [note])
    assert "response_format json_schema unsupported" in out
    for word in ("Johnson", "4471", "hypertelorism", "MRN", "noted"):
        assert word not in out
    assert len(scrub("x " * 1000, [])) <= 300


def test_content_blocks_are_joined() -> None:
    assert message_text([{"type": "text", "text": "or"}, {"type": "text", "text": "al"}]) == "oral"
    assert message_text(None) == ""
