"""The LLM stage against a real model, in process and behind a real OpenAI-compatible server.

These assert the plumbing, never the model's quality (SmolLM2-135M in CI): answers come back
through each structured-output method the runtime offers and parse, mentions are grounded,
what the model made up is counted, a re-run is served from the cache, a killed run resumes,
the server's dialect is negotiated (llama.cpp's server answers HTTP 500 to ``json_schema``),
and an environment proxy never sees a note. Run with ``-m llm``; CI sets REALM_TEST_GGUF.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from realm.errors import LLMError
from realm.extract.llm import LLMExtractor
from realm.extract.llm_config import LLMConfig, LLMExtractorConfig
from realm.extract.llm_schema import LLMEntities
from realm.harmonize.llm_backend import LLMBackend
from realm.harmonize.tasks import UNSURE, get_task
from realm.llm.build import build_chat_model
from realm.llm.config import ChatModelConfig
from realm.llm.methods import available_methods
from tests.llm.real_model import gguf_path, llm_server_url  # noqa: F401 - a fixture

pytestmark = [pytest.mark.llm, pytest.mark.slow]

NOTES = [
    "Patient with sepsis and acute kidney injury. Denies chest pain. Started vancomycin.",
    "Intubated for ARDS. History of diabetes mellitus. No fever.",
]


def in_process() -> ChatModelConfig:
    return ChatModelConfig(provider="llamacpp", model_path=str(gguf_path()), kwargs={"n_ctx": 2048})


def server(url: str) -> ChatModelConfig:
    return ChatModelConfig(provider="openai", model=os.environ.get("REALM_TEST_LLM_MODEL", "local"), base_url=url)


def extractor(model: ChatModelConfig, tmp_path: Path, **settings: object) -> LLMExtractor:
    config = LLMExtractorConfig(**{"progress": False, "backoff": 0.0, "retries": 1, **settings})
    return LLMExtractor.from_config(LLMConfig(model, config), cache_root=tmp_path / "cache")


def check_run(ex: LLMExtractor, out: list) -> None:
    """What every real run must show: grounded mentions and counts that add up."""
    stats = ex.stats
    assert all(m.is_grounded_in(note) for note, ms in zip(NOTES, out, strict=True) for m in ms)
    assert stats.failed_chunks == 0 and stats.calls >= stats.chunks > 0
    assert sum(stats.methods.values()) == stats.chunks  # every chunk answered through a named method
    # the model's entities are either mentions or counted as dropped: nothing disappears
    assert stats.entities >= stats.mentions + stats.hallucinations + stats.too_long
    assert stats.mentions == sum(len(ms) for ms in out)


def test_in_process_answers_through_every_method_it_offers(tmp_path: Path) -> None:
    methods = available_methods(build_chat_model(in_process()), LLMEntities)
    assert "tools" in methods and "text" in methods  # ChatLlamaCpp: a grammar-constrained tool call, and text
    for method in methods:
        ex = extractor(in_process(), tmp_path / method, structured=method, max_concurrency=4)
        out = ex.extract_many(NOTES)
        check_run(ex, out)
        assert ex.stats.method == method and set(ex.stats.methods) == {method}
        assert ex.stats.unusable_answers < ex.stats.chunks, f"{method}: no answer could be read"


def test_in_process_rerun_is_served_from_the_cache(tmp_path: Path) -> None:
    first = extractor(in_process(), tmp_path)
    out = first.extract_many(NOTES)
    check_run(first, out)
    again = extractor(in_process(), tmp_path)
    assert again.extract_many(NOTES) == out
    assert again.stats.calls == 0 and again.stats.cache_hits == len(NOTES)


_KILLED_RUN = """
import sys
from realm.extract.llm import LLMExtractor
from realm.extract.llm_config import LLMConfig, LLMExtractorConfig
from realm.llm.config import ChatModelConfig
notes = [f"Day {i}: septic shock on norepinephrine, history of CHF since {2000 + i}." for i in range(6)]
model = ChatModelConfig(provider="llamacpp", model_path=sys.argv[1])
ex = LLMExtractor.from_config(LLMConfig(model, LLMExtractorConfig(progress=False, max_concurrency=1)),
                              cache_root=sys.argv[2])
ex.extract_many(notes)
"""


def test_a_killed_run_resumes_from_what_it_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen([sys.executable, str(script), str(gguf_path()), str(cache)], env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if len([p for p in cache.rglob("*") if p.is_file() and not p.name.startswith(".")]) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    notes = [f"Day {i}: septic shock on norepinephrine, history of CHF since {2000 + i}." for i in range(6)]
    config = LLMConfig(ChatModelConfig(provider="llamacpp", model_path=str(gguf_path())),
                       LLMExtractorConfig(progress=False, max_concurrency=1))
    resumed = LLMExtractor.from_config(config, cache_root=cache)
    out = resumed.extract_many(notes)
    assert 1 <= resumed.stats.cache_hits < len(notes)  # what the killed run finished is not asked again
    assert resumed.stats.chunks == len(notes) - resumed.stats.cache_hits
    assert len(out) == len(notes) and resumed.stats.failed_chunks == 0
    assert not [p for p in cache.rglob("*.tmp")], "the killed run's temp files were left behind"


def test_the_server_dialect_is_negotiated_and_recorded(tmp_path: Path, llm_server_url: str) -> None:  # noqa: F811
    ex = extractor(server(llm_server_url), tmp_path)
    out = ex.extract_many(NOTES)
    check_run(ex, out)
    assert ex.stats.method in ("tools", "json_mode", "grammar", "text")
    if not os.environ.get("REALM_TEST_LLM_URL"):  # llama.cpp's own server: json_schema is answered with a 500
        assert ex.stats.method != "json_schema"


def test_a_method_the_server_refuses_is_a_loud_error_when_forced(tmp_path: Path, llm_server_url: str) -> None:  # noqa: F811
    if os.environ.get("REALM_TEST_LLM_URL"):
        pytest.skip("which methods another server refuses is its own business")
    ex = extractor(server(llm_server_url), tmp_path, structured="json_schema")
    with pytest.raises(LLMError, match="500") as caught:
        ex.extract_many(NOTES)
    assert llm_server_url in str(caught.value)
    assert not any(word in str(caught.value) for word in ("sepsis", "vancomycin", "ARDS"))


def test_an_environment_proxy_never_sees_a_note(tmp_path: Path, llm_server_url: str,  # noqa: F811
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/conftest.py fails any non-loopback connect; hospital machines often set these globally
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://10.1.2.3:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    ex = extractor(server(llm_server_url), tmp_path, cache=False)
    check_run(ex, ex.extract_many(NOTES))


def test_harmonization_votes_over_real_samples(tmp_path: Path) -> None:
    model = build_chat_model(ChatModelConfig(provider="llamacpp", model_path=str(gguf_path()), temperature=0.7,
                                             max_tokens=16))
    backend = LLMBackend(model, n_samples=3, cache_root=tmp_path / "cache", sleep=lambda _: None)
    task = get_task("route")
    answers = [backend.answer(text, task) for text in ("PO", "IV", "Neb")]
    for answer in answers:
        assert answer.n_answers == 3
        assert answer.value == UNSURE or answer.value in task.classes
        assert 0.0 <= answer.agreement <= 1.0
    calls = backend.calls
    assert calls >= 9
    assert [backend.answer(text, task) for text in ("PO", "IV", "Neb")] == answers and backend.calls == calls
