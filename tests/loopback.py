"""Test helpers for the routes out of the LLM seam: a socket-level guard that records (and
refuses) every connect, and a tiny OpenAI-compatible chat server on loopback."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return isinstance(address, (str, bytes))  # AF_UNIX path
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class SocketGuard:
    """Every address a socket was asked to connect to; non-loopback ones are refused."""

    attempts: list[Any] = field(default_factory=list)

    @property
    def remote(self) -> list[Any]:
        return [a for a in self.attempts if not _loopback(a)]

    def to_port(self, port: int) -> int:
        return sum(1 for a in self.attempts if isinstance(a, tuple) and len(a) > 1 and a[1] == port)


def install_socket_guard(monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
    """Patch ``socket.socket.connect``/``connect_ex`` and ``socket.create_connection`` (the
    routes httpx, asyncio and the stdlib take) to record each address and refuse non-loopback
    ones, so a test sees any attempt to leave the machine, proxies included."""
    guard = SocketGuard()
    connect, connect_ex, create_connection = socket.socket.connect, socket.socket.connect_ex, socket.create_connection

    def check(address: object) -> None:
        guard.attempts.append(address)
        if not _loopback(address):
            raise ConnectionRefusedError(f"socket guard: non-loopback connect to {address!r}")

    def guarded_connect(self: socket.socket, address: object) -> object:
        check(address)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: object) -> object:
        check(address)
        return connect_ex(self, address)

    def guarded_create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if not _loopback(address):  # refused before name resolution; loopback goes on to connect()
            check(address)
        return create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    return guard


@dataclass
class FakeOpenAIServer:
    """A loopback server answering ``POST .../chat/completions`` with ``content``."""

    url: str
    content: str
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def fake_openai_server(content: str) -> Iterator[FakeOpenAIServer]:
    """Serve chat completions on 127.0.0.1 (a free port) until the block ends."""
    state = FakeOpenAIServer("", content)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            state.requests.append(body)
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            reply = json.dumps({
                "id": f"chatcmpl-{len(state.requests)}", "object": "chat.completion", "created": 0,
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": state.content}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
