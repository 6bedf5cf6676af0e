"""Which structured-output method an endpoint answers through, learnt once per run.

A :class:`Negotiation` walks a chain of methods (realm.llm.methods), best first. The client
reports each answer (:meth:`Negotiation.settle`) and each clear "unsupported" refusal
(:meth:`Negotiation.fall_back`); the first moves nothing, the second moves every later call
of the run to the next method and is logged once at WARNING with the method names and the
status (never the server's message, which may quote the request). Calls run concurrently,
so a refusal of a method that another thread has already left is not counted twice.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from realm.llm.methods import Method

__all__ = ["Negotiation"]

log = logging.getLogger(__name__)


class Negotiation:
    """The method chain of one endpoint and where the run stands on it."""

    def __init__(self, chain: tuple[Method, ...], *, endpoint: str) -> None:
        self.chain = chain
        self.endpoint = endpoint
        self._index = 0
        self._settled = False
        self._answered: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def current(self) -> Method:
        """The method the next call uses."""
        with self._lock:
            return self.chain[self._index]

    @property
    def settled(self) -> bool:
        """True once the current method has answered."""
        with self._lock:
            return self._settled

    def answered(self) -> dict[str, int]:
        """Calls answered, per method."""
        with self._lock:
            return dict(self._answered)

    def settle(self, method: Method) -> None:
        """``method`` answered a call."""
        with self._lock:
            self._answered[method] += 1
            if self.chain[self._index] == method:
                self._settled = True

    def fall_back(self, method: Method, reason: str) -> Method | None:
        """``method`` was refused (``reason``: the HTTP status or the error's class, never the
        server's words); the method to use from now on (None: none left)."""
        with self._lock:
            if self.chain[self._index] != method:  # another call already moved on
                return self.chain[self._index]
            if self._index + 1 >= len(self.chain):
                return None
            self._index += 1
            self._settled = False
            nxt = self.chain[self._index]
        log.warning("structured output: %s refused method %s (%s); using %s for the rest of the run",
                    self.endpoint, method, reason, nxt)
        return nxt
