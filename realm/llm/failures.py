"""What a failed model call means: retry it, fall back to another output method, or stop.

Servers speak different dialects of failure: the OpenAI client raises ``APIStatusError``
subclasses carrying ``status_code`` and the decoded ``body`` (vLLM's
``{"object": "error", "message": ...}``, TGI's ``{"error": ..., "error_type": ...}``,
Ollama's ``{"error": {"message": ...}}``); other integrations raise their own classes. This
module reads them all the same way:

- :func:`is_transient`: worth repeating with backoff (timeouts, dropped connections, rate
  limits, 502/503/504). A 500 is *not* transient here: the client repeats it once and then
  treats it as permanent, because a server that crashes on a request (llama-cpp-python on
  ``response_format: json_schema``) crashes on every repeat of it;
- :func:`names_output_method`: the server's complaint is about the structured-output method
  (``response_format``, ``json_schema``, ``tools``, ``tool_choice``, ``grammar``), so another
  method may work;
- :func:`failure_message`: the endpoint, the status and the server's message for an
  :class:`~realm.errors.LLMError`, with every word that the request carried removed (servers
  echo the request in their errors, and the request holds the note).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["UNSUPPORTED_STATUS", "failure_message", "http_status", "is_server_error", "is_transient",
           "names_output_method", "scrub", "server_message"]

_TRANSIENT_NAMES = ("Timeout", "RateLimit", "Connection", "ServiceUnavailable", "Overloaded", "TooManyRequests",
                    "Unavailable")
_TRANSIENT_STATUS = {408, 409, 425, 429, 502, 503, 504}
#: Statuses with which servers refuse a request they do not understand (besides a repeated 500).
UNSUPPORTED_STATUS = {400, 404, 422, 501}
_METHOD_WORDS = re.compile(r"response_format|json_schema|json_object|guided_json|tool_choice|tools?\b|function|grammar",
                           re.IGNORECASE)
_WORD = re.compile(r"\w+")
#: Words a server's message keeps even when the request also held them: the vocabulary of the
#: protocol and of error messages, none of which says anything about a patient.
_PROTOCOL_WORDS = frozenset("""
a an the and or of to in on for is are was be been not no with by as at it this that from can
cannot could does do did has have only one must should got expected unknown missing invalid
unsupported supported support allowed error errors request requests field fields value values
type types format response response_format json json_schema json_object schema grammar guided_json
tool tools tool_choice function functions parameter parameters argument arguments model message
messages content role system user assistant body key keys variant variants line column failed
internal server bad validation deserialize target string object array null true false
""".split())
_MAX_MESSAGE = 300


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an error carries (on itself or on its response), or None."""
    for holder in (exc, getattr(exc, "response", None)):
        status = getattr(holder, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: timeouts, dropped connections, rate limits, 502-504."""
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    status = http_status(exc)
    if status is not None:
        return status in _TRANSIENT_STATUS
    return any(part in cls.__name__ for cls in type(exc).__mro__ for part in _TRANSIENT_NAMES)


def is_server_error(exc: BaseException) -> bool:
    """True for an HTTP 500 (repeated once, then permanent; see the module docstring)."""
    status = http_status(exc)
    return status == 500 or (status is None and "InternalServer" in type(exc).__name__)


def server_message(exc: BaseException) -> str:
    """The server's own words for an error: the ``message``/``error``/``detail`` of its body
    when it sent JSON, else the exception's text."""
    body: Any = getattr(exc, "body", None)
    for _ in range(3):  # {"error": {"message": ...}} nests one level
        if isinstance(body, dict):
            body = next((body[k] for k in ("message", "error", "detail") if body.get(k)), None)
        else:
            break
    text = body if isinstance(body, str) else (getattr(exc, "message", None) or str(exc))
    return re.sub(r"^Error code: \d+ - ", "", str(text)).strip()


def names_output_method(exc: BaseException) -> bool:
    """True when the error's message is about how the answer was asked to be shaped."""
    return bool(_METHOD_WORDS.search(server_message(exc)))


def scrub(message: str, private: Iterable[str], limit: int = _MAX_MESSAGE) -> str:
    """``message`` without any word that the ``private`` texts hold (other than the protocol's
    vocabulary), shortened to ``limit`` characters. A word is removed also when a private word
    hides inside it: servers echo the request JSON-encoded, where a note's line break glues
    ``\\n`` to the next word."""
    words = {w.lower() for text in private for w in _WORD.findall(text)} - _PROTOCOL_WORDS
    long_words = [w for w in words if len(w) >= 3]

    def keep(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        if word in _PROTOCOL_WORDS:
            return match.group(0)
        return "…" if word in words or any(w in word for w in long_words) else match.group(0)

    flat = " ".join(re.sub(r"\\[nrt]", " ", message[: 20 * limit]).split())
    out = re.sub(r"…(?:\W*…)+", "…", _WORD.sub(keep, flat))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def failure_message(exc: BaseException, endpoint: str, private: Iterable[str], what: str = "chat model call") -> str:
    """``<what> to <endpoint> failed: HTTP <status> (<Class>): <server message, scrubbed>``."""
    status = http_status(exc)
    head = f"{what} to {endpoint} failed: " + (f"HTTP {status} " if status is not None else "")
    said = scrub(server_message(exc), private)
    return f"{head}({type(exc).__name__})" + (f": {said}" if said else "")
