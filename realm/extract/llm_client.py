"""One chunk in, one usable raw answer out: structured output or JSON text, retries, repair.

The extractor talks to LangChain only through :class:`ChunkClient`, so the calling policy
lives in one place:

- *structured*: models with tool calling get the Pydantic schema via
  ``with_structured_output(..., include_raw=True)``; others answer JSON text, parsed by
  :func:`realm.extract.llm_schema.parse_answer`;
- *transient* errors (timeouts, connection resets, rate limits, 5xx) are retried with
  exponential backoff; when retries run out the chunk counts as failed and the run goes on;
- any other error (bad credentials, unknown model) stops the run as :class:`LLMError`:
  every later call would fail the same way;
- an answer out of format gets one repair turn; if that fails too, the answer is stored as
  unusable (None) and counted, so a re-run does not pay for it again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from realm.errors import ConfigError, LLMError
from realm.extract.llm_prompt import repair_messages
from realm.extract.llm_schema import LLMEntities, parse_answer

__all__ = ["ChunkClient", "ChunkAnswer", "is_transient", "supports_tools", "TransientFailure"]

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


def supports_tools(model: BaseChatModel) -> bool:
    """True when the model class implements tool calling (needed for structured output)."""
    return type(model).bind_tools is not BaseChatModel.bind_tools


class TransientFailure(LLMError):
    """A chunk whose calls kept failing transiently until the retries ran out."""


@dataclass(frozen=True)
class ChunkAnswer:
    """The raw answer kept for a chunk (None: unusable after repair) and what it cost."""

    raw: str | None
    calls: int
    retries: int
    repaired: bool


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content or "")


class ChunkClient:
    """Calls one chat model for one chunk's messages, with the policy in the module docstring."""

    def __init__(
        self,
        model: BaseChatModel,
        *,
        structured: str = "auto",
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if structured not in ("auto", "tools", "json"):
            raise ConfigError(f"structured must be auto, tools or json, got {structured!r}")
        if structured == "tools" and not supports_tools(model):
            raise ConfigError(f"{type(model).__name__} has no tool calling; use structured: json")
        self.mode = "tools" if structured == "tools" or (structured == "auto" and supports_tools(model)) else "json"
        self.model = model
        self._structured = model.with_structured_output(LLMEntities, include_raw=True) if self.mode == "tools" else None
        self.retries, self.backoff, self.max_backoff, self._sleep = retries, backoff, max_backoff, sleep

    def _invoke(self, messages: list[BaseMessage]) -> str:
        """One model call; the answer as JSON text whichever way it came back."""
        if self._structured is None:
            return _text(self.model.invoke(messages))
        out = self._structured.invoke(messages)
        parsed, raw = out.get("parsed"), out.get("raw")
        if isinstance(parsed, LLMEntities):
            return parsed.model_dump_json()
        if isinstance(raw, AIMessage):
            if raw.tool_calls:
                return json.dumps(raw.tool_calls[0].get("args", {}))
            if raw.invalid_tool_calls:
                return str(raw.invalid_tool_calls[0].get("args") or "")
        return _text(raw)  # the model answered in text despite the tool

    def _with_retries(self, messages: list[BaseMessage]) -> tuple[str, int, int]:
        calls = retries = 0
        while True:
            calls += 1
            try:
                return self._invoke(messages), calls, retries
            except Exception as exc:  # noqa: BLE001 - sorted into transient / fatal below
                if not is_transient(exc):
                    raise LLMError(f"chat model call failed: {type(exc).__name__}") from exc
                if retries >= self.retries:
                    raise TransientFailure(f"chat model kept failing ({type(exc).__name__}) after {retries} retries") from exc
                self._sleep(min(self.backoff * 2**retries, self.max_backoff))
                retries += 1

    def answer(self, messages: list[BaseMessage]) -> ChunkAnswer:
        """A usable raw answer for ``messages`` (or None after a failed repair).

        Raises :class:`TransientFailure` when retries run out, :class:`LLMError` on other errors.
        """
        raw, calls, retries = self._with_retries(messages)
        try:
            parse_answer(raw)
            return ChunkAnswer(raw, calls, retries, False)
        except LLMError as problem:
            fixed, more_calls, more_retries = self._with_retries(repair_messages(messages, raw, str(problem)))
        calls, retries = calls + more_calls, retries + more_retries
        try:
            parse_answer(fixed)
            return ChunkAnswer(fixed, calls, retries, True)
        except LLMError:
            return ChunkAnswer(None, calls, retries, True)
