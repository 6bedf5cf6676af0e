"""realm.llm.client: structured output or text, retries on transient errors, fatal errors stop."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from realm.errors import ConfigError, LLMError
from realm.llm.client import ChatClient, RetryPolicy, TransientFailure, is_transient, message_text
from realm.llm.fake import ScriptedChatModel, ScriptedToolChatModel

MESSAGES = [SystemMessage("Answer."), HumanMessage("What is the route of PO?")]


class Route(BaseModel):
    route: str


class Status503(Exception):
    status_code = 503


class RateLimitError(Exception):
    pass


@pytest.mark.parametrize(("exc", "transient"), [
    (TimeoutError(), True), (ConnectionError(), True), (Status503(), True), (RateLimitError(), True),
    (RuntimeError(), False), (ValueError("bad key"), False),
])
def test_transient_errors_are_told_from_permanent_ones(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_a_transient_error_is_retried_with_exponential_backoff_then_answered() -> None:
    model = ScriptedChatModel(responses=[{"raise": "timeout"}, {"raise": "connection"}, "oral"])
    slept: list[float] = []
    client = ChatClient(model, retry=RetryPolicy(retries=3, backoff=0.5, max_backoff=0.75), sleep=slept.append)
    reply = client.invoke(MESSAGES)
    assert (reply.text, reply.calls, reply.retries) == ("oral", 3, 2)
    assert slept == [0.5, 0.75] and client.mode == "text"


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


def test_a_tool_calling_model_answers_through_the_schema() -> None:
    model = ScriptedToolChatModel(responses=[{"route": "oral"}])
    client = ChatClient(model, schema=Route)
    assert client.mode == "tools"
    assert json.loads(client.invoke(MESSAGES).text) == {"route": "oral"}


def test_a_model_without_tools_answers_json_text() -> None:
    client = ChatClient(ScriptedChatModel(responses=['{"route": "oral"}']), schema=Route)
    assert client.mode == "json" and client.invoke(MESSAGES).text == '{"route": "oral"}'
    assert ChatClient(ScriptedToolChatModel(), schema=Route, structured="json").mode == "json"


def test_impossible_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="structured: json"):
        ChatClient(ScriptedChatModel(), schema=Route, structured="tools")
    with pytest.raises(ConfigError, match="auto, tools or json"):
        ChatClient(ScriptedChatModel(), structured="xml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="invoke"):
        ChatClient(object())
    with pytest.raises(ConfigError, match=">= 0"):
        RetryPolicy(retries=-1)


def test_content_blocks_are_joined() -> None:
    assert message_text([{"type": "text", "text": "or"}, {"type": "text", "text": "al"}]) == "oral"
    assert message_text(None) == ""
