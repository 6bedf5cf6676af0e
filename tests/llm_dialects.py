"""Loopback fakes of the OpenAI-compatible servers realm meets, each in its own dialect.

A :class:`DialectServer` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 that answers
``POST /v1/chat/completions`` the way one server does (as documented, and as seen for
llama-cpp-python in issue 17):

============ ======= =========== ============ ======================== =========================
dialect      tools   json_schema json_object  schema grammar           error body
============ ======= =========== ============ ======================== =========================
llamacpp     yes     HTTP 500    yes          json_object + ``schema`` ``{"error": {"message"}}``
vllm         yes     yes         yes          ``guided_json`` (extra)  ``{"object": "error", ...}``
ollama       yes     yes         yes          no                       ``{"error": {"message"}}``
tgi          yes [1] HTTP 422    HTTP 422 [2] ``{type: json, value}``  ``{"error", "error_type"}``
============ ======= =========== ============ ======================== =========================

[1] TGI returns a tool call's ``arguments`` as a JSON object, not a string. [2] TGI's
``json_object`` needs the schema under ``value``.

``refuse`` makes a dialect refuse more methods (as a server built without a tool parser does),
with its own status and error body; ``fail_all`` makes it answer every request with that
status. The model "reads" the note: its answer names the first word of the text between
``<<<`` and ``>>>`` in the last user message as a present condition (in a code fence when asked
for plain text); without such a note it answers ``plain``. Every request's method is recorded
in :attr:`DialectServer.seen`, its body in :attr:`DialectServer.bodies`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIALECTS = ("llamacpp", "vllm", "ollama", "tgi")
#: What each dialect does not speak, and how it says so: method -> status.
REFUSALS: dict[str, dict[str, int]] = {
    "llamacpp": {"json_schema": 500},
    "vllm": {},
    "ollama": {},
    "tgi": {"json_schema": 422, "json_mode": 422},
}
#: The status each dialect uses for a method ``refuse`` adds.
REFUSAL_STATUS = {"llamacpp": 500, "vllm": 400, "ollama": 400, "tgi": 422}


def request_method(body: dict[str, Any]) -> str:
    """Which structured-output method a chat-completions request uses."""
    fmt = body.get("response_format") or {}
    if body.get("tools"):
        return "tools"
    if fmt.get("type") == "json_schema":
        return "json_schema"
    if body.get("guided_json") or fmt.get("type") == "json" or fmt.get("schema") or fmt.get("value"):
        return "grammar"
    if fmt.get("type") == "json_object":
        return "json_mode"
    return "text"


def note_of(body: dict[str, Any]) -> str | None:
    """The note in the last user message, if the request is an extraction."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    found = re.search(r"<<<\n(.*)\n>>>", str(content), re.DOTALL)
    return found.group(1) if found else None


def answer_of(note: str) -> dict[str, Any]:
    first = re.search(r"[A-Za-z]+", note)
    return {"entities": [{"text": first.group(0), "type": "condition", "assertion": "present"}] if first else []}


@dataclass
class DialectServer:
    """One fake server (see the module docstring); use as a context manager."""

    dialect: str
    refuse: frozenset[str] = frozenset()
    fail_all: int | None = None
    echo: bool = False
    plain: str = "oral"
    seen: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def error(self, status: int, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """The dialect's error body for refusing ``method``."""
        said = {"tools": "tool_choice with tools", "json_schema": "response_format json_schema",
                "json_mode": "response_format json_object", "grammar": "response_format schema"}.get(method, "request")
        if status == 500:
            text = "Internal Server Error"
        elif self.dialect == "tgi" and method == "json_mode":
            text = "Failed to deserialize the JSON body into the target type: response_format: missing field `value`"
        elif self.dialect == "tgi":
            text = f"Failed to deserialize the JSON body into the target type: {said}: unknown variant"
        else:
            text = f"{said} is not supported by this server"
        if self.echo:
            text += f" (request was: {json.dumps(body.get('messages'))})"
        if self.dialect == "vllm":
            return {"object": "error", "message": text, "type": "BadRequestError", "param": None, "code": status}
        if self.dialect == "tgi":
            return {"error": text, "error_type": "validation" if status == 422 else "generation"}
        return {"error": {"message": text, "type": "invalid_request_error" if status < 500 else "server_error",
                          "param": None, "code": None}}

    def completion(self, body: dict[str, Any], method: str) -> dict[str, Any]:
        note = note_of(body)
        payload = answer_of(note) if note is not None else None
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if method == "tools" and payload is not None:
            name = body["tools"][0]["function"]["name"]
            arguments: Any = payload if self.dialect == "tgi" else json.dumps(payload)
            message["tool_calls"] = [{"id": "call_0", "type": "function",
                                      "function": {"name": name, "arguments": arguments}}]
            finish = "tool_calls"
        else:
            text = self.plain if payload is None else json.dumps(payload)
            message["content"] = f"```json\n{text}\n```" if method == "text" and payload is not None else text
            finish = "stop"
        return {"id": "chatcmpl-0", "object": "chat.completion", "created": 0, "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    def handle(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        method = request_method(body)
        self.seen.append(method)
        self.bodies.append(body)
        status = self.fail_all
        if status is None and method in self.refuse:
            status = REFUSAL_STATUS[self.dialect]
        if status is None:
            status = REFUSALS[self.dialect].get(method)
        if status is not None:
            return status, self.error(status, method, body)
        return 200, self.completion(body, method)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload = fake.handle(body) if self.path.endswith("/chat/completions") else (
                    404, {"error": {"message": f"no route {self.path}"}})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

        return Handler

    def __enter__(self) -> DialectServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def serving(dialect: str, **options: Any) -> Iterator[DialectServer]:
    """A running :class:`DialectServer`."""
    with DialectServer(dialect, **options) as server:
        yield server


def chat_model(server: DialectServer, **options: Any) -> Any:
    """LangChain's OpenAI client pointed at ``server``, with no retries of its own."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model="fake", base_url=server.url, api_key="not-needed", max_retries=0, temperature=0,
                      **options)
