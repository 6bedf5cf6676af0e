"""realm.llm.build and realm.llm.privacy: models from config, and patient text kept local."""

from __future__ import annotations

import sys
import types

import pytest

from realm.errors import ConfigError, LLMError
from realm.llm.build import build_chat_model, intended_url, model_id
from realm.llm.config import ChatModelConfig
from realm.llm.fake import ScriptedChatModel, ScriptedToolChatModel
from realm.llm.privacy import check_local, is_local_url, model_endpoint


class UrlModel(ScriptedToolChatModel):
    base_url: str = "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("url", "local"),
    [("http://127.0.0.1:8000/v1", True), ("http://localhost:11434", True), ("http://[::1]:8080", True),
     ("http://0.0.0.0:8000", True), ("https://api.openai.com/v1", False), ("http://10.1.2.3:8000", False),
     ("http://my-gpu.hospital.org", False), ("127.0.0.1:8000", True), ("unix:/run/llm.sock", True)],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local


def test_a_remote_endpoint_is_refused_unless_allowed_or_listed() -> None:
    model = UrlModel(base_url="https://api.example.com/v1")
    with pytest.raises(LLMError, match="allow_remote"):
        check_local(model)
    assert check_local(model, allow_remote=True).url == "https://api.example.com/v1"
    assert check_local(model, local_hosts=["API.example.com"]).kind == "url"
    assert check_local(UrlModel()).url == "http://127.0.0.1:8000/v1"


def test_hosted_provider_classes_are_remote_and_file_models_local() -> None:
    hosted = types.new_class("ChatAnthropic", (ScriptedChatModel,))
    hosted.__module__ = "langchain_anthropic.chat_models"
    assert model_endpoint(hosted()).url == "https://api.anthropic.com"
    with pytest.raises(LLMError):
        check_local(hosted())
    gguf = types.new_class("ChatLlamaCpp", (ScriptedChatModel,), exec_body=lambda ns: ns.update(
        {"__annotations__": {"model_path": str}, "model_path": "/models/x.gguf"}))
    assert check_local(gguf()).kind == "file"
    assert check_local(ScriptedChatModel()).kind == "in_process"


def test_config_refuses_hosted_providers_before_importing_them() -> None:
    assert intended_url(ChatModelConfig(provider="anthropic", model="claude")) == "https://api.anthropic.com"
    assert intended_url(ChatModelConfig(provider="ollama", model="llama3.1")) == "http://localhost:11434"
    with pytest.raises(LLMError, match="allow_remote"):
        build_chat_model(ChatModelConfig(provider="openai", model="gpt-4o"))
    with pytest.raises(LLMError):
        build_chat_model(ChatModelConfig(provider="anthropic", model="claude"))


def test_config_names_the_extra_for_a_missing_integration() -> None:
    try:
        import langchain_openai  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"realm\[openai\]"):
            build_chat_model(ChatModelConfig(provider="openai", model="qwen", base_url="http://127.0.0.1:8000/v1"))
    else:
        model = build_chat_model(ChatModelConfig(provider="openai", model="qwen", base_url="http://127.0.0.1:8000/v1"))
        assert model_endpoint(model).url.startswith("http://127.0.0.1")
    with pytest.raises(ConfigError, match=r"realm\[llamacpp\]|not found"):
        build_chat_model(ChatModelConfig(provider="llamacpp", model_path="/nonexistent/model.gguf"))


def test_config_builds_any_chat_model_by_class_path() -> None:
    cfg = ChatModelConfig(class_path="realm.llm.fake.ScriptedChatModel", kwargs={"default": "[]"})
    assert isinstance(build_chat_model(cfg), ScriptedChatModel)
    with pytest.raises(ConfigError, match="BaseChatModel"):
        build_chat_model(ChatModelConfig(class_path="realm.llm.client.ChatClient"))
    with pytest.raises(ConfigError, match="cannot be imported"):
        build_chat_model(ChatModelConfig(class_path="realm.llm.nowhere.Model"))
    with pytest.raises(ConfigError, match="needs a provider"):
        build_chat_model(ChatModelConfig())


def test_a_class_path_model_is_checked_after_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("realm_test_remote_models")
    module.Remote = UrlModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    cfg = ChatModelConfig(class_path=f"{module.__name__}.Remote", kwargs={"base_url": "http://10.0.0.9/v1"})
    with pytest.raises(LLMError, match="allow_remote"):
        build_chat_model(cfg)
    assert isinstance(build_chat_model(ChatModelConfig(class_path=cfg.class_path, kwargs=cfg.kwargs, allow_remote=True)),
                      UrlModel)


def test_model_id_names_class_model_and_temperature() -> None:
    assert model_id(ScriptedChatModel(model="m", temperature=0.7)) == "ScriptedChatModel:m:t=0.7"
    assert model_id(object()) == "object::t=None"


def test_a_local_openai_server_gets_the_budget_as_max_tokens_and_no_client_retries() -> None:
    # llama.cpp's server ignores `max_completion_tokens` (what langchain-openai sends), so a
    # small model ran on to the context length: 4,049 tokens for a 200-token budget
    pytest.importorskip("langchain_openai")
    model = build_chat_model(ChatModelConfig(provider="openai", model="local", base_url="http://127.0.0.1:9/v1",
                                             max_tokens=64))
    payload = model._get_request_payload([("user", "hi")])
    assert payload["extra_body"]["max_tokens"] == 64
    assert model.max_retries == 0


def test_a_call_budget_lowers_a_copy_of_the_model_and_never_raises_it() -> None:
    pytest.importorskip("langchain_openai")
    from realm.llm.client import answer_budget, with_budget

    model = build_chat_model(ChatModelConfig(provider="openai", model="local", base_url="http://127.0.0.1:9/v1",
                                             max_tokens=1461))
    assert answer_budget(model, 150) == 256 and answer_budget(model, 1400) is None and answer_budget(model, None) is None
    small = with_budget(model, 256)
    payload = small._get_request_payload([("user", "hi")])
    assert payload["max_completion_tokens"] == 256 and payload["extra_body"]["max_tokens"] == 256
    assert model.max_tokens == 1461 and model.extra_body["max_tokens"] == 1461  # the shared model is untouched
    assert small.root_client is model.root_client  # one HTTP client, not one per budget
