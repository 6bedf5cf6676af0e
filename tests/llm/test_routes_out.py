"""The privacy guard on every route out: base URL, proxies from options, HTTP clients and the
environment, checked against what the sockets actually do."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from realm.errors import LLMError
from realm.extract.llm import LLMExtractor
from realm.extract.llm_config import LLMConfig, LLMExtractorConfig
from realm.llm.build import DEFAULT_STOP, build_chat_model
from realm.llm.config import ChatModelConfig
from realm.llm.fake import ScriptedChatModel
from realm.llm.privacy import check_local, env_proxy, is_local_url, model_endpoint, proxy_options
from tests.loopback import SocketGuard, fake_openai_server, install_socket_guard

langchain_openai = pytest.importorskip("langchain_openai")

PROXY = "http://10.1.2.3:3128"
NOTE = "Admitted with septic shock. History of CHF."
ANSWER = json.dumps({"entities": [{"text": "CHF", "type": "condition", "assertion": "historical"}]})
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture()
def guard(monkeypatch: pytest.MonkeyPatch) -> SocketGuard:
    for name in _PROXY_VARIABLES:  # start from a clean environment, whatever the machine sets
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return install_socket_guard(monkeypatch)


def local_config(url: str, **changes: Any) -> ChatModelConfig:
    # max_retries 0: the SDK's own retries would only slow a failing test down
    return ChatModelConfig(provider="openai", model="local", base_url=url, kwargs={"max_retries": 0}, **changes)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_an_environment_proxy_never_sees_notes_for_a_loopback_server(
    guard: SocketGuard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv(variable, PROXY)  # a plain-http base URL goes through HTTP_PROXY or ALL_PROXY
    with fake_openai_server(ANSWER) as server:
        config = LLMConfig(local_config(server.url), LLMExtractorConfig(structured="text", progress=False, backoff=0.0))
        extractor = LLMExtractor.from_config(config, cache_root=tmp_path)
        mentions = extractor.extract(NOTE)
    assert guard.remote == []
    assert [m.text for m in mentions] == ["CHF"] and len(server.requests) == 1
    # the defaults that ride along: the chunk-sized answer budget and the turn-marker stops
    body = server.requests[0]  # langchain-openai names max_tokens max_completion_tokens on the wire
    # sized from this one-line note (rounded up to a power of two), not from a full chunk, and
    # sent under both names: llama.cpp's server reads only max_tokens
    assert config.extractor.answer_tokens(len(NOTE)) <= body["max_completion_tokens"] < config.extractor.answer_tokens()
    assert body["max_tokens"] == body["max_completion_tokens"]
    assert body["stop"] == list(DEFAULT_STOP)


def test_a_client_that_trusts_the_environment_is_refused_unless_no_proxy_exempts_the_host(
    guard: SocketGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    # built by hand, not by realm: its httpx clients read HTTP_PROXY
    direct = langchain_openai.ChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="x")
    assert [r.option for r in model_endpoint(direct).proxies] == ["environment variable HTTP_PROXY"]
    with pytest.raises(LLMError, match="HTTP_PROXY") as refused:
        check_local(direct)
    assert "10.1.2.3" in str(refused.value) and "NO_PROXY" in str(refused.value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # another base URL: langchain-openai caches clients per URL
    exempt = langchain_openai.ChatOpenAI(model="m", base_url="http://127.0.0.1:10/v1", api_key="x")
    assert check_local(exempt).proxies == ()
    assert guard.attempts == []


def test_realm_builds_local_clients_that_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", PROXY)
    model = build_chat_model(local_config("http://127.0.0.1:11/v1"))
    assert model.http_client.trust_env is False and model.http_async_client.trust_env is False
    assert check_local(model).proxies == ()


def test_a_proxy_in_the_config_is_refused_unless_remote_is_allowed(guard: SocketGuard) -> None:
    cfg = ChatModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:12/v1",
                          kwargs={"openai_proxy": PROXY})
    with pytest.raises(LLMError, match=r"`kwargs\.openai_proxy`") as refused:
        build_chat_model(cfg)
    assert "10.1.2.3" in str(refused.value)
    allowed = build_chat_model(replace(cfg, allow_remote=True))
    assert model_endpoint(allowed).proxies[0].option == "openai_proxy"  # seen on the model too
    # a proxy on this machine, or one the config lists as local, is fine
    build_chat_model(replace(cfg, kwargs={"openai_proxy": "http://127.0.0.1:3128"}))
    build_chat_model(replace(cfg, local_hosts=("10.1.2.3",)))
    assert guard.attempts == []  # building connects nowhere


def test_a_proxy_in_nested_client_options_is_refused_before_the_integration_is_imported() -> None:
    cfg = ChatModelConfig(provider="ollama", model="llama3.1", kwargs={"client_kwargs": {"proxy": PROXY}})
    with pytest.raises(LLMError, match=r"`kwargs\.client_kwargs\.proxy`"):
        build_chat_model(cfg)


def test_an_http_client_with_a_proxy_is_seen_on_a_hand_built_model() -> None:
    model = langchain_openai.ChatOpenAI(model="m", base_url="http://127.0.0.1:13/v1", api_key="x",
                                        http_client=httpx.Client(proxy=PROXY, trust_env=False))
    with pytest.raises(LLMError, match="`http_client`"):
        check_local(model)


def test_an_ollama_host_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu.example.org:11434")
    with pytest.raises(LLMError, match="gpu.example.org"):
        build_chat_model(ChatModelConfig(provider="ollama", model="llama3.1"))


def test_local_ollama_gets_clients_deaf_to_the_environment_and_the_per_call_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def fake_init(model: str, **options: Any) -> ScriptedChatModel:
        seen.update(options)
        return ScriptedChatModel(default="ok")

    monkeypatch.setattr(sys.modules["langchain.chat_models"], "init_chat_model", fake_init)
    build_chat_model(ChatModelConfig(provider="ollama", model="llama3.1", timeout=30.0))
    assert seen["client_kwargs"] == {"trust_env": False, "timeout": 30.0} and "timeout" not in seen
    assert seen["base_url"] == "http://localhost:11434" and seen["stop"] == list(DEFAULT_STOP)
    assert seen["max_tokens"] == 1024  # nobody sized it: the fallback bound
    seen.clear()
    build_chat_model(ChatModelConfig(provider="ollama", model="llama3.1", kwargs={"client_kwargs": {"headers": {"a": "b"}}}))
    assert seen["client_kwargs"] == {"trust_env": False, "timeout": 120.0, "headers": {"a": "b"}}
    seen.clear()
    build_chat_model(ChatModelConfig(provider="openai", model="m", base_url="http://127.0.0.1:14/v1", stop=(),
                                     max_tokens=64, timeout=5.0))
    assert seen["timeout"] == 5.0 and seen["max_tokens"] == 64 and "stop" not in seen


def test_the_environment_proxy_is_what_httpx_would_use(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert env_proxy("http://127.0.0.1:8000/v1") is None
    monkeypatch.setenv("https_proxy", PROXY)
    assert env_proxy("http://127.0.0.1:8000/v1") is None  # an http URL does not use the https proxy
    route = env_proxy("https://127.0.0.1:8000/v1")
    assert route is not None and route.option == "environment variable https_proxy" and "10.1.2.3" in route.url
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert env_proxy("https://127.0.0.1:8000/v1") is None and env_proxy("https://localhost:8000") is None


# -- properties --------------------------------------------------------------------------------

_KEYS = st.sampled_from(["proxy", "openai_proxy", "PROXIES", "base_url", "timeout", "client_kwargs", "model"])
_URLS = st.from_regex(r"\Ahttp://[a-z]{1,8}(\.[a-z]{1,5})?:[1-9][0-9]{0,3}\Z")
_OPTIONS = st.recursive(st.dictionaries(_KEYS, _URLS | st.integers() | st.booleans() | st.none(), max_size=4),
                        lambda inner: st.dictionaries(_KEYS, inner, max_size=3), max_leaves=12)


def _expected(options: Mapping[str, Any], under_proxy: bool = False) -> set[str]:
    found = set()
    for key, value in options.items():
        proxied = under_proxy or "prox" in key.lower()
        if isinstance(value, Mapping):
            found |= _expected(value, proxied)
        elif proxied and isinstance(value, str):
            found.add(value)
    return found


@given(_OPTIONS)
def test_every_proxy_url_in_nested_options_is_found_and_nothing_else(options: dict[str, Any]) -> None:
    assert {route.url for route in proxy_options(options)} == _expected(options)


@given(st.ip_addresses(v=4), st.integers(1, 65535))
def test_an_ipv4_endpoint_is_local_exactly_when_it_is_loopback_or_unspecified(address: Any, port: int) -> None:
    url = f"http://{address}:{port}/v1"
    assert is_local_url(url) is (address.is_loopback or address.is_unspecified)
    assert is_local_url(url, local_hosts=[str(address)])
