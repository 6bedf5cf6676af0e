"""One model call as a policy: negotiated structured output, retries, loud permanent errors.

Callers talk to LangChain only through :class:`ChatClient`, so how a model is called lives in
one place:

- *structured*: given a Pydantic ``schema``, the answer comes through the best method the
  endpoint accepts (realm.llm.methods: ``tools``, ``json_schema``, ``json_mode``, ``grammar``,
  ``text``). With ``structured="auto"`` a clear refusal of a method (HTTP 400/404/422/501
  about ``response_format``/``tools``/..., a 500 that repeats before the endpoint has ever
  answered, an answer the integration cannot read in that method's shape, or
  ``NotImplementedError``) moves the run to the next method for good
  (realm.llm.negotiation); a forced method that is refused is an :class:`LLMError`. Methods
  whose model does not see the schema get ``format_instructions`` appended to the system
  message. Without a schema the answer is plain text. :meth:`ChatClient.invoke` returns text
  either way, and the method that produced it;
- *transient* errors (timeouts, connection resets, rate limits, 502-504) are retried with
  exponential backoff (:class:`RetryPolicy`); when retries run out the call raises
  :class:`TransientFailure`, which a caller may count and skip. A 500 is repeated once;
  a second 500 is permanent;
- any other error stops the run with an :class:`LLMError` naming the endpoint, the HTTP
  status and the server's message with every word of the request removed
  (realm.llm.failures).

Reading the answer (parsing, repair turns, votes) is the caller's business.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from realm.errors import ConfigError, LLMError
from realm.llm.failures import UNSUPPORTED_STATUS, failure_message, http_status, is_server_error, is_transient, \
    names_output_method
from realm.llm.methods import SPELLED_OUT, Method, Structured, bind_method, method_chain, reply_text
from realm.llm.negotiation import Negotiation
from realm.llm.privacy import model_endpoint

__all__ = ["ChatClient", "Reply", "RetryPolicy", "TransientFailure"]


class TransientFailure(LLMError):
    """A call that kept failing transiently until the retries ran out (what it cost attached)."""

    def __init__(self, message: str, calls: int = 0, retries: int = 0) -> None:
        super().__init__(message)
        self.calls = calls
        self.retries = retries


class _Refused(Exception):
    """The endpoint refused the structured-output method (internal: triggers the fallback)."""

    def __init__(self, cause: BaseException, calls: int = 0, retries: int = 0) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause
        status = http_status(cause)
        self.reason = f"HTTP {status}" if status is not None else type(cause).__name__
        self.calls = calls
        self.retries = retries


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
    """An answer's text, the method that produced it, and what it cost."""

    text: str
    calls: int
    retries: int
    method: Method = "text"


def _private(messages: list[BaseMessage]) -> list[str]:
    """The texts of a request that may hold patient data: everything but system messages."""
    return [str(m.content) for m in messages if not isinstance(m, SystemMessage)]


def _unreadable(exc: BaseException) -> bool:
    """An answer the integration could not read in the method's shape (TGI sends a tool call's
    arguments as an object, which LangChain's OpenAI client refuses): the method is unusable."""
    return isinstance(exc, (ValueError, TypeError, KeyError))


def _with_instructions(messages: list[BaseMessage], instructions: str) -> list[BaseMessage]:
    if not instructions:
        return messages
    if messages and isinstance(messages[0], SystemMessage):
        return [SystemMessage(str(messages[0].content) + instructions), *messages[1:]]
    return [SystemMessage(instructions.strip()), *messages]


class ChatClient:
    """Calls one chat model with the policy in the module docstring; safe across threads."""

    def __init__(
        self,
        model: Any,
        *,
        schema: type[BaseModel] | None = None,
        structured: Structured = "auto",
        format_instructions: str = "",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not callable(getattr(model, "invoke", None)):
            raise ConfigError(f"{type(model).__name__} has no invoke(messages); pass a LangChain chat model")
        self.model = model
        self.schema = schema
        self.forced = structured != "auto"
        endpoint = model_endpoint(model)
        self.endpoint = endpoint.url or endpoint.label
        self.negotiation = Negotiation(method_chain(model, schema, structured), endpoint=self.endpoint)
        self.format_instructions = format_instructions
        self.retry = retry if retry is not None else RetryPolicy()
        self._sleep = sleep
        self._bound: dict[tuple[Method, int | None], Runnable] = {}
        self._bind_lock = threading.Lock()
        # Until a method has answered, calls go one at a time: concurrent first calls would all
        # pay the refusals (and their retries) of the methods the endpoint does not speak.
        self._probe = threading.Lock()

    @property
    def method(self) -> Method:
        """The method the next call uses (the negotiated one once the endpoint has answered)."""
        return self.negotiation.current

    def _runnable(self, method: Method, budget: int | None) -> Runnable:
        with self._bind_lock:
            if (method, budget) not in self._bound:
                self._bound[method, budget] = bind_method(with_budget(self.model, budget), self.schema, method)
            return self._bound[method, budget]

    def _once(self, method: Method, messages: list[BaseMessage], budget: int | None) -> str:
        try:
            runnable = self._runnable(method, budget)
        except NotImplementedError as exc:
            raise _Refused(exc) from exc
        if self.schema is not None and method in SPELLED_OUT:
            messages = _with_instructions(messages, self.format_instructions)
        return reply_text(runnable.invoke(messages), self.schema)

    def _attempts(self, method: Method, messages: list[BaseMessage], budget: int | None) -> Reply:
        """One method's answer after its retries; :class:`_Refused` when the endpoint refuses it."""
        calls = retries = 0
        repeated_500 = False
        while True:
            calls += 1
            try:
                return Reply(self._once(method, messages, budget), calls, retries, method)
            except _Refused as refused:  # the model class cannot even build the request
                raise _Refused(refused.cause, calls - 1, retries) from refused.cause
            except NotImplementedError as exc:
                raise _Refused(exc, calls, retries) from exc
            except Exception as exc:  # noqa: BLE001 - sorted into retry / fall back / stop below
                status = http_status(exc)
                if is_server_error(exc) and not repeated_500:
                    repeated_500 = True  # one more try of the same request, then it is permanent
                elif is_server_error(exc):
                    if names_output_method(exc) or not self.negotiation.settled:
                        raise _Refused(exc, calls, retries) from exc
                    raise LLMError(failure_message(exc, self.endpoint, _private(messages))) from exc
                elif status in UNSUPPORTED_STATUS and names_output_method(exc):
                    raise _Refused(exc, calls, retries) from exc
                elif status is None and _unreadable(exc) and not self.negotiation.settled:
                    raise _Refused(exc, calls, retries) from exc
                elif not is_transient(exc):
                    raise LLMError(failure_message(exc, self.endpoint, _private(messages))) from exc
                elif retries >= self.retry.retries:
                    raise TransientFailure(
                        f"chat model at {self.endpoint} kept failing ({type(exc).__name__}) after {retries} retries",
                        calls, retries) from exc
                self._sleep(self.retry.delay(retries))
                retries += 1

    def _negotiate(self, messages: list[BaseMessage], budget: int | None) -> Reply:
        calls = retries = 0
        method = self.negotiation.current
        while True:
            try:
                reply = self._attempts(method, messages, budget)
            except _Refused as refused:
                calls, retries = calls + refused.calls, retries + refused.retries
                nxt = None if self.forced else self.negotiation.fall_back(method, refused.reason)
                if nxt is None:
                    what = f"structured output through {method}" if self.schema is not None else "chat model call"
                    raise LLMError(failure_message(refused.cause, self.endpoint, _private(messages), what)
                                   + ("; no other output method left" if len(self.negotiation.chain) > 1 else "")
                                   ) from refused.cause
                method = nxt
                continue
            self.negotiation.settle(method)
            return Reply(reply.text, calls + reply.calls, retries + reply.retries, method)

    def invoke(self, messages: list[BaseMessage], *, max_tokens: int | None = None) -> Reply:
        """The model's answer to ``messages`` (see the module docstring for the policy), in at
        most ``max_tokens`` tokens when given (never more than the model's own budget).

        Raises :class:`TransientFailure` when retries run out, :class:`LLMError` on other
        errors; messages name the endpoint, the status and the server's words, never the prompt."""
        budget = answer_budget(self.model, max_tokens)
        if self.negotiation.settled:
            return self._negotiate(messages, budget)
        with self._probe:
            return self._negotiate(messages, budget)


def answer_budget(model: object, max_tokens: int | None) -> int | None:
    """The budget one call gets: ``max_tokens`` rounded up to a power of two (so a run binds
    a handful of model copies, not one per chunk) and never above the model's own."""
    own = getattr(model, "max_tokens", None)
    if max_tokens is None or not isinstance(own, int):
        return None
    rounded = 1 << max(max_tokens - 1, 1).bit_length()
    return None if rounded >= own else rounded


def with_budget(model: Any, budget: int | None) -> Any:
    """``model`` answering in at most ``budget`` tokens: a shallow copy (the weights or the HTTP
    client are shared) with its ``max_tokens`` lowered, and the copy a local OpenAI-compatible
    server reads (``extra_body``, see realm.llm.build) lowered with it. Why per call: a budget
    sized for the longest chunk lets a small model loop on a one-line note for minutes."""
    if budget is None:
        return model
    update: dict[str, Any] = {"max_tokens": budget}
    extra = getattr(model, "extra_body", None)
    if isinstance(extra, dict) and "max_tokens" in extra:
        update["extra_body"] = {**extra, "max_tokens": budget}
    return model.model_copy(update=update)
