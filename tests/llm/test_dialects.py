"""The LLM extractor against loopback fakes of llama.cpp's server, vLLM, Ollama and TGI
(tests/llm_dialects.py), through LangChain's OpenAI client: negotiation, fallback, loud errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from realm.errors import ExtractionError, LLMError
from realm.extract.llm import LLMExtractor
from realm.extract.llm_config import LLMExtractorConfig
from tests.llm_dialects import DIALECTS, chat_model, serving

NOTES = ["Hypertelorism and ptosis on exam.", "Sepsis, on norepinephrine.", "Quiet night; no complaints."]


def extract(server: Any, tmp_path: Path, **changes: Any) -> tuple[LLMExtractor, list[list[str]]]:
    config = LLMExtractorConfig(progress=False, backoff=0.0, cache=False, max_concurrency=2, **changes)
    ex = LLMExtractor(chat_model(server), config, cache_root=tmp_path)
    return ex, [[m.text for m in ms] for ms in ex.extract_many(NOTES)]


#: dialect -> (method with tool calling, method when the server refuses tools)
EXPECTED = {"llamacpp": ("tools", "json_mode"), "vllm": ("tools", "json_schema"),
            "ollama": ("tools", "json_schema"), "tgi": ("grammar", "grammar")}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("tools", [True, False], ids=["tools", "no-tools"])
def test_each_dialect_yields_grounded_mentions_through_its_best_method(dialect: str, tools: bool,
                                                                      tmp_path: Path) -> None:
    with serving(dialect, refuse=frozenset() if tools else frozenset({"tools"})) as server:
        ex, found = extract(server, tmp_path)
    expected = EXPECTED[dialect][0 if tools else 1]
    assert found == [["Hypertelorism"], ["Sepsis"], ["Quiet"]]
    assert ex.stats.method == expected and ex.stats.methods == {expected: 3}
    assert ex.stats.as_dict()["method_share"] == {expected: 1.0} and ex.stats.failed_chunks == 0
    assert server.seen[-1] == expected


def test_a_server_that_500s_on_json_schema_yields_mentions_through_the_fallback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # issue 17: ChatOpenAI's default json_schema made llama-cpp-python's server answer 500 and
    # the run end with 0 mentions and no error
    with serving("llamacpp", refuse=frozenset({"tools"})) as server, caplog.at_level(logging.WARNING):
        ex, found = extract(server, tmp_path)
    assert found == [["Hypertelorism"], ["Sepsis"], ["Quiet"]] and ex.stats.method == "json_mode"
    assert server.seen[:4] == ["tools", "tools", "json_schema", "json_schema"]  # each 500 repeated once
    assert server.seen[4:] == ["json_mode"] * 3  # remembered: no later call tries json_schema
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("refused method json_schema (HTTP 500)" in w for w in warnings) == 1


def test_a_server_that_500s_on_everything_is_a_loud_error_without_note_text(tmp_path: Path) -> None:
    with serving("vllm", fail_all=500, echo=True) as server:
        with pytest.raises(LLMError) as caught:
            extract(server, tmp_path)
        url = server.url
    message = str(caught.value)
    assert "HTTP 500" in message and url in message and "Internal Server Error" in message
    for word in ("Hypertelorism", "ptosis", "Sepsis", "norepinephrine", "complaints"):
        assert word not in message


@pytest.mark.parametrize(("dialect", "method", "status"), [("tgi", "json_schema", "HTTP 422"),
                                                           ("llamacpp", "json_schema", "HTTP 500"),
                                                           ("tgi", "json_mode", "HTTP 422")])
def test_a_forced_method_the_server_refuses_is_a_loud_error(dialect: str, method: str, status: str,
                                                            tmp_path: Path) -> None:
    with serving(dialect) as server:
        with pytest.raises(LLMError, match=f"through {method}.*{status}"):
            extract(server, tmp_path, structured=method)
        assert set(server.seen) == {method}


@pytest.mark.parametrize(("dialect", "method"), [("vllm", "json_schema"), ("ollama", "json_mode"),
                                                 ("tgi", "grammar"), ("llamacpp", "grammar"), ("vllm", "text")])
def test_a_forced_method_the_server_speaks_is_used_for_every_chunk(dialect: str, method: str, tmp_path: Path) -> None:
    with serving(dialect) as server:
        ex, found = extract(server, tmp_path, structured=method)
    assert found == [["Hypertelorism"], ["Sepsis"], ["Quiet"]] and set(server.seen) == {method}
    assert ex.stats.methods == {method: 3}


def test_a_server_that_stays_unavailable_fails_the_run_with_the_counts(tmp_path: Path) -> None:
    with serving("ollama", fail_all=503) as server:
        with pytest.raises(ExtractionError, match="3 of 3 chunks got no answer") as caught:
            extract(server, tmp_path, retries=1)
    assert "3/3 chunks failed" in str(caught.value) and "Sepsis" not in str(caught.value)
