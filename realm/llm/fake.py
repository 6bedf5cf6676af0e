"""Scripted chat models: the in-repo fake of the LLM service, for tests and dry runs.

LangChain's own fakes cannot call tools, so structured output cannot be exercised with
them. These answer from a script, with or without tool calling, and record every call::

    ScriptedToolChatModel(responses=[{"entities": [...]}, "not json", {"raise": "timeout"}])
    ScriptedChatModel(by_substring={"potassium": '{"entities": []}'}, default='{"entities": []}')
    ScriptedChatModel(responses=["oral", "PO", "oral"], temperature=0.7)  # three samples

A response is a dict with ``entities`` (a tool call, or its JSON text for the text-only
model), a string (a text answer), ``{"raise": "timeout" | "connection" | "fatal" | "interrupt"}``
(``interrupt``: a KeyboardInterrupt, as Ctrl-C during the call), or
``{"raise": "http", "status": 422, "message": "..."}`` (an error as an HTTP client raises it).
``by_substring`` picks a response by a string in the last user message, so answers do not
depend on call order when calls run concurrently. They also serve ``class_path`` in an LLM
config, to try the pipeline without a model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr

__all__ = ["ScriptedChatModel", "ScriptedHTTPError", "ScriptedToolChatModel"]

_ERRORS: dict[str, type[BaseException]] = {"timeout": TimeoutError, "connection": ConnectionError, "fatal": RuntimeError,
                                           "interrupt": KeyboardInterrupt}


class ScriptedHTTPError(Exception):
    """An HTTP error answer, shaped like the OpenAI client's (``status_code``, decoded ``body``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Error code: {status} - {message}")
        self.status_code = status
        self.body = {"message": message}


def _last_user(messages: Sequence[BaseMessage]) -> str:
    last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    return str(last.content) if last is not None else ""


class ScriptedChatModel(BaseChatModel):
    """Answers from ``by_substring``, then ``responses`` in order, then ``default``."""

    responses: list[Any] = Field(default_factory=list)
    by_substring: dict[str, Any] = Field(default_factory=dict)
    default: Any = None  # None: an exhausted script is an error (a test asked too often)
    model: str = "scripted"
    temperature: float | None = None  # part of the model id; samplers warn at 0
    #: Calls from several threads at once are safe (a lock guards the script); see realm.llm.runtime.
    thread_safe: ClassVar[bool] = True
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _next: int = PrivateAttr(default=0)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of every call so far."""
        return self._calls

    @property
    def asked(self) -> list[str]:
        """The last user message of every call so far (the query, after any few-shot turns)."""
        return [_last_user(messages) for messages in self._calls]

    def _pick(self, messages: Sequence[BaseMessage]) -> Any:
        prompt = _last_user(messages)
        with self._lock:
            self._calls.append(list(messages))
            for key, response in self.by_substring.items():
                if key in prompt:
                    return response
            if self._next < len(self.responses):
                self._next += 1
                return self.responses[self._next - 1]
        if self.default is None:
            raise RuntimeError("scripted chat model: script exhausted")
        return self.default

    def _message(self, response: Any) -> AIMessage:
        if isinstance(response, str):
            return AIMessage(content=response)
        return AIMessage(content=json.dumps(response))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        response = self._pick(messages)
        if isinstance(response, dict) and response.get("raise") == "http":
            raise ScriptedHTTPError(int(response["status"]), str(response.get("message", "")))
        if isinstance(response, dict) and "raise" in response:
            raise _ERRORS[response["raise"]](f"scripted {response['raise']}")
        return ChatResult(generations=[ChatGeneration(message=self._message(response))])


class ScriptedToolChatModel(ScriptedChatModel):
    """A scripted model with tool calling: dict responses come back as a call of the bound tool."""

    _tool_name: str = PrivateAttr(default="answer")

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Runnable:
        first = tools[0] if tools else None
        self._tool_name = getattr(first, "__name__", None) or "answer"
        return self.bind(tools=list(tools), **kwargs)

    def _message(self, response: Any) -> AIMessage:
        if isinstance(response, dict):
            call = {"name": self._tool_name, "args": response, "id": f"call_{len(self._calls)}", "type": "tool_call"}
            return AIMessage(content="", tool_calls=[call])
        return super()._message(response)
