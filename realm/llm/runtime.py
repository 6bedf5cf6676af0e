"""How a model's runtime may be used: is its server up, and may two threads call it at once?

- :func:`ensure_reachable`: one TCP connect to a local server's host and port before a run,
  and again when calls start failing. A dead endpoint is then one clear :class:`LLMError`
  within seconds, not minutes of retries on every chunk (a 136-note run once made 672
  connection attempts in 11 minutes).
- :func:`safe_concurrency`: an in-process model (llama.cpp on a GGUF file) is one native
  object that must never be entered from two threads (llama.cpp aborts with
  ``free(): invalid pointer``), so its calls run one at a time. A model class that is safe
  to share says so with a ``thread_safe = True`` class attribute (the scripted fakes do).
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

from realm.errors import LLMError
from realm.llm.privacy import Endpoint, is_local_url

__all__ = ["ensure_reachable", "probe_target", "safe_concurrency", "PROBE_TIMEOUT"]

log = logging.getLogger(__name__)

#: Seconds to wait for a TCP connection to a local server (one on this machine answers in
#: microseconds; a second covers a loaded machine).
PROBE_TIMEOUT = 3.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


def probe_target(endpoint: Endpoint) -> tuple[str, int] | None:
    """The (host, port) to probe for ``endpoint``; None when there is nothing to probe: an
    in-process model, a unix socket, or a remote host (its reachability is the provider's)."""
    url = endpoint.url
    if endpoint.kind != "url" or url is None or url.startswith(("unix:", "http+unix:")) or not is_local_url(url):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]


def ensure_reachable(endpoint: Endpoint, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`LLMError` when ``endpoint``'s local server accepts no connection."""
    target = probe_target(endpoint)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            return
    except ConnectionRefusedError:
        reason = "connection refused"
    except TimeoutError:
        reason = f"no answer within {timeout:g} s"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise LLMError(f"cannot reach the LLM endpoint {endpoint.url}: {reason}; is the server running?")


def safe_concurrency(model: object, endpoint: Endpoint, requested: int) -> int:
    """``requested`` for a server or a thread-safe model; 1 for an in-process model (logged)."""
    if requested <= 1 or endpoint.kind == "url" or getattr(type(model), "thread_safe", False) is True:
        return requested
    log.info("%s runs in this process and must not be called from two threads: one call at a time "
             "(max_concurrency %d -> 1)", endpoint.label, requested)
    return 1
