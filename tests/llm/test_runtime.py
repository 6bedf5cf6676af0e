"""realm.llm.runtime in use: a dead local server fails fast, in-process models run one call at a time."""

from __future__ import annotations

import json
import logging
import threading
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from realm.errors import LLMError
from realm.extract.llm import LLMExtractor
from realm.extract.llm_config import LLMExtractorConfig
from realm.harmonize.llm_backend import LLMBackend
from realm.harmonize.tasks import get_task
from realm.llm.build import build_chat_model
from realm.llm.config import ChatModelConfig
from realm.llm.fake import ScriptedChatModel, ScriptedToolChatModel
from realm.llm.privacy import Endpoint, model_endpoint
from realm.llm.runtime import ensure_reachable, probe_target, safe_concurrency
from tests.loopback import SocketGuard, closed_port, fake_openai_server, install_socket_guard

NOTE = "Admitted with septic shock. History of CHF."
ANSWER = {"entities": [{"text": "CHF", "type": "condition"}]}


@pytest.fixture()
def guard(monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
    return install_socket_guard(monkeypatch)


def openai_model(url: str) -> Any:
    pytest.importorskip("langchain_openai")
    # max_retries 0: count realm's own attempts only
    return build_chat_model(ChatModelConfig(provider="openai", model="m", base_url=url, kwargs={"max_retries": 0}))


def config(**changes: Any) -> LLMExtractorConfig:
    return LLMExtractorConfig(**{"progress": False, "backoff": 0.0, "structured": "text", **changes})


# -- a dead endpoint ---------------------------------------------------------------------------


def test_a_closed_local_port_is_one_clear_error_after_one_connection_attempt(guard: SocketGuard, tmp_path: Path) -> None:
    port = closed_port()
    extractor = LLMExtractor(openai_model(f"http://127.0.0.1:{port}/v1"), config(), cache_root=tmp_path)
    started = time.perf_counter()
    with pytest.raises(LLMError) as refused:
        extractor.extract_many([NOTE, "Family history of diabetes.", "On vancomycin."])
    assert str(refused.value) == (f"cannot reach the LLM endpoint http://127.0.0.1:{port}/v1: connection refused; "
                                  "is the server running?")
    assert guard.to_port(port) == 1  # the probe; no chunk was sent
    assert time.perf_counter() - started < 5.0  # generous: the probe takes milliseconds


def test_a_server_that_dies_mid_run_stops_the_run_at_the_first_failing_chunk(guard: SocketGuard, tmp_path: Path) -> None:
    with fake_openai_server(json.dumps(ANSWER)) as server:
        url = server.url
        extractor = LLMExtractor(openai_model(url), config(retries=1, max_concurrency=1), cache_root=tmp_path)
        assert [m.text for m in extractor.extract(NOTE)] == ["CHF"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    before = guard.to_port(port)
    with pytest.raises(LLMError, match="connection refused; is the server running"):
        extractor.extract_many([f"Note {i}: on vancomycin." for i in range(20)])
    assert guard.to_port(port) - before == 3  # one chunk: its call and one retry, then the probe
    assert len(extractor.cache) == 1  # what was answered before stays cached


def test_the_harmonizer_probes_a_dead_server_before_its_first_call(guard: SocketGuard, tmp_path: Path) -> None:
    port = closed_port()
    backend = LLMBackend(openai_model(f"http://127.0.0.1:{port}/v1"), n_samples=3, cache_root=tmp_path)
    with pytest.raises(LLMError, match="cannot reach the LLM endpoint"):
        backend.answer("vancomycin 1 g IV", get_task("antibiotic"))
    assert guard.to_port(port) == 1 and backend.calls == 0


def test_only_local_http_endpoints_are_probed() -> None:
    assert probe_target(Endpoint("http://127.0.0.1:8000/v1", "url", "m")) == ("127.0.0.1", 8000)
    assert probe_target(Endpoint("http://localhost/v1", "url", "m")) == ("localhost", 80)
    assert probe_target(Endpoint("https://api.example.com/v1", "url", "m")) is None  # the provider's business
    assert probe_target(Endpoint("unix:/run/llm.sock", "url", "m")) is None
    assert probe_target(Endpoint(None, "file", "m")) is None
    ensure_reachable(Endpoint(None, "in_process", "m"))  # nothing to probe: no error


# -- in-process models -------------------------------------------------------------------------


class OneThreadModel(ScriptedToolChatModel):
    """An in-process model that, like llama.cpp, must never be entered from two threads."""

    thread_safe: ClassVar[bool] = False
    _inside: int = PrivateAttr(default=0)
    _guard: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        with self._guard:
            self._inside += 1
            twice = self._inside > 1
        try:
            if twice:
                raise RuntimeError("entered from two threads at once")
            time.sleep(0.02)  # long enough for a second thread to come in
            return super()._generate(messages, stop, run_manager, **kwargs)
        finally:
            with self._guard:
                self._inside -= 1


def test_an_in_process_model_is_called_from_one_thread_at_a_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notes = [f"Day {i}: history of CHF." for i in range(8)]
    model = OneThreadModel(default=ANSWER)
    with caplog.at_level(logging.INFO, logger="realm.llm.runtime"):
        extractor = LLMExtractor(model, config(max_concurrency=4, structured="auto"), cache_root=tmp_path)
        out = extractor.extract_many(notes)
    assert [[m.text for m in ms] for ms in out] == [["CHF"]] * 8 and len(model.calls) == 8
    assert extractor.concurrency == 1
    said = [r.getMessage() for r in caplog.records if "one call at a time" in r.getMessage()]
    assert len(said) == 1 and said[0].endswith(
        "OneThreadModel runs in this process and must not be called from two threads: one call at a time "
        "(max_concurrency 4 -> 1)")


def test_concurrency_is_kept_for_servers_and_thread_safe_models() -> None:
    gguf = types.new_class("ChatLlamaCpp", (ScriptedChatModel,), exec_body=lambda ns: ns.update(
        {"__annotations__": {"model_path": str}, "model_path": "/models/x.gguf", "thread_safe": False}))()
    assert safe_concurrency(gguf, model_endpoint(gguf), 4) == 1
    fake = ScriptedChatModel()
    assert safe_concurrency(fake, model_endpoint(fake), 4) == 4  # declares itself thread-safe
    server = Endpoint("http://127.0.0.1:8000/v1", "url", "m")
    assert safe_concurrency(OneThreadModel(), server, 4) == 4
