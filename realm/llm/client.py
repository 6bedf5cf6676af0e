"""One model call as a policy: structured output or text, retries on transient errors.

Callers talk to LangChain only through :class:`ChatClient`, so how a model is called lives in
one place:

- *structured*: given a Pydantic ``schema``, a model with tool calling gets it through
  ``with_structured_output(..., include_raw=True)`` (mode ``tools``); a model without answers
  in text (mode ``json``: the caller's prompt asks for JSON). Without a schema the answer is
  plain text (mode ``text``). Either way :meth:`ChatClient.invoke` returns text;
- *transient* errors (timeouts, connection resets, rate limits, 5xx) are retried with
  exponential backoff (:class:`RetryPolicy`); when retries run out the call raises
  :class:`TransientFailure`, which a caller may count and skip;
- any other error (bad credentials, unknown model) raises :class:`LLMError`: every later
  call would fail the same way.

Reading the answer (parsing, repair turns, votes) is the caller's business.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from realm.errors import ConfigError, LLMError

__all__ = ["ChatClient", "Reply", "RetryPolicy", "TransientFailure", "answer_mode", "is_transient", "message_text",
           "supports_tools"]

#: What a caller asks for: pick for the model, or force tool calling or JSON text.
Structured = Literal["auto", "tools", "json"]
#: How answers come back: a tool call, JSON text the prompt asks for, or plain text.
Mode = Literal["tools", "json", "text"]

_TRANSIENT_NAMES = ("Timeout", "RateLimit", "Connection", "ServiceUnavailable", "InternalServer",
                    "Overloaded", "TooManyRequests", "Unavailable")
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: timeouts, dropped connections, rate limits, 5xx."""
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if getattr(exc, "status_code", None) in _TRANSIENT_STATUS:
        return True
    return any(part in cls.__name__ for cls in type(exc).__mro__ for part in _TRANSIENT_NAMES)


def supports_tools(model: object) -> bool:
    """True when the model class implements tool calling (needed for structured output)."""
    return isinstance(model, BaseChatModel) and type(model).bind_tools is not BaseChatModel.bind_tools


def message_text(message: Any) -> str:
    """The text of a model's answer, joining content blocks' text parts."""
    content = getattr(message, "content", message)
    if isinstance(content, list):
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content or "")


def answer_mode(model: object, schema: type[BaseModel] | None, structured: Structured = "auto") -> Mode:
    """How ``model`` will answer: the one place that chooses between the ways an endpoint can
    return structured output."""
    if structured not in ("auto", "tools", "json"):
        raise ConfigError(f"structured must be auto, tools or json, got {structured!r}")
    if structured == "tools" and (schema is None or not supports_tools(model)):
        raise ConfigError(f"{type(model).__name__} cannot answer through a tool here; use structured: json")
    if schema is None:
        return "text"
    if structured == "tools" or (structured == "auto" and supports_tools(model)):
        return "tools"
    return "json"


class TransientFailure(LLMError):
    """A call that kept failing transiently until the retries ran out."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transiently failing call is repeated."""

    retries: int = 3
    """Repeats after the first call."""
    backoff: float = 1.0
    """Seconds before the first repeat, doubled before each next one."""
    max_backoff: float = 30.0
    """The longest wait between two calls."""

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_backoff < 0:
            raise ConfigError(f"retries, backoff and max_backoff must be >= 0, got {self}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before repeat number ``retry`` (0-based)."""
        return min(self.backoff * 2**retry, self.max_backoff)


@dataclass(frozen=True)
class Reply:
    """An answer's text and what it cost."""

    text: str
    calls: int
    retries: int


class ChatClient:
    """Calls one chat model with the policy in the module docstring."""

    def __init__(
        self,
        model: Any,
        *,
        schema: type[BaseModel] | None = None,
        structured: Structured = "auto",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not callable(getattr(model, "invoke", None)):
            raise ConfigError(f"{type(model).__name__} has no invoke(messages); pass a LangChain chat model")
        self.model = model
        self.schema = schema
        self.mode: Mode = answer_mode(model, schema, structured)
        self._structured = model.with_structured_output(schema, include_raw=True) if self.mode == "tools" else None
        self.retry = retry if retry is not None else RetryPolicy()
        self._sleep = sleep

    def _once(self, messages: list[BaseMessage]) -> str:
        """One model call; the answer as text (a tool call's arguments as JSON)."""
        if self._structured is None:
            return message_text(self.model.invoke(messages))
        out = self._structured.invoke(messages)
        parsed, raw = out.get("parsed"), out.get("raw")
        if self.schema is not None and isinstance(parsed, self.schema):
            return parsed.model_dump_json()
        if isinstance(raw, AIMessage):
            if raw.tool_calls:
                return json.dumps(raw.tool_calls[0].get("args", {}))
            if raw.invalid_tool_calls:
                return str(raw.invalid_tool_calls[0].get("args") or "")
        return message_text(raw)  # the model answered in text despite the tool

    def invoke(self, messages: list[BaseMessage]) -> Reply:
        """The model's answer to ``messages``, after retrying transient errors.

        Raises :class:`TransientFailure` when retries run out, :class:`LLMError` on other
        errors; messages name the error's class, never the prompt."""
        calls = retries = 0
        while True:
            calls += 1
            try:
                return Reply(self._once(messages), calls, retries)
            except Exception as exc:  # noqa: BLE001 - sorted into transient / fatal below
                if not is_transient(exc):
                    raise LLMError(f"chat model call failed: {type(exc).__name__}") from exc
                if retries >= self.retry.retries:
                    raise TransientFailure(
                        f"chat model kept failing ({type(exc).__name__}) after {retries} retries") from exc
                self._sleep(self.retry.delay(retries))
                retries += 1
