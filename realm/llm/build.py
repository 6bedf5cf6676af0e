"""Build a LangChain chat model from a :class:`~realm.llm.config.ChatModelConfig`.

Integration packages are optional extras, imported only here and only when asked for; a
missing one is a :class:`ConfigError` naming the extra to install. The endpoint is checked
for locality (realm.llm.privacy) before the model is built, from the config alone, and again
after, from the model object.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from realm.errors import ConfigError, LLMError
from realm.llm.config import ChatModelConfig, load_chat_config
from realm.llm.privacy import HOSTED_PACKAGES, check_local, is_local_url

__all__ = ["build_chat_model", "chat_model_from_config", "intended_url", "model_id", "EXTRAS"]

#: provider -> the realm extra that installs its integration package
EXTRAS: dict[str, str] = {"openai": "openai", "ollama": "ollama", "llamacpp": "llamacpp"}
#: init_chat_model provider -> integration package (for the pre-build locality check)
_PROVIDER_PACKAGES = {
    "openai": "langchain_openai",
    "azure_openai": "langchain_openai",
    "anthropic": "langchain_anthropic",
    "google_genai": "langchain_google_genai",
    "google_vertexai": "langchain_google_vertexai",
    "mistralai": "langchain_mistralai",
    "groq": "langchain_groq",
    "bedrock": "langchain_aws",
    "bedrock_converse": "langchain_aws",
    "cohere": "langchain_cohere",
    "fireworks": "langchain_fireworks",
    "together": "langchain_together",
    "deepseek": "langchain_deepseek",
    "xai": "langchain_xai",
    "perplexity": "langchain_perplexity",
    "huggingface": "langchain_huggingface",
    "nvidia": "langchain_nvidia_ai_endpoints",
}


def intended_url(config: ChatModelConfig) -> str | None:
    """Where the model would send text, judged from the config alone (None: in-process)."""
    if config.base_url:
        return config.base_url
    if config.provider == "ollama":
        return "http://localhost:11434"
    package = _PROVIDER_PACKAGES.get(config.provider or "")
    return HOSTED_PACKAGES.get(package) if package else None


def model_id(model: object) -> str:
    """A stable name of a model object for cache keys: its class, its model name or file and
    its temperature when it exposes them (sampled answers differ with the temperature)."""
    name = next((str(getattr(model, a)) for a in ("model_name", "model", "model_path", "model_id")
                 if isinstance(getattr(model, a, None), str) and getattr(model, a)), "")
    return f"{type(model).__name__}:{name}:t={getattr(model, 'temperature', None)}"


def _extra_hint(provider: str | None) -> str:
    extra = EXTRAS.get(provider or "")
    if extra:
        return f"pip install 'realm[{extra}]'"
    return f"pip install langchain-{(provider or 'PROVIDER').replace('_', '-')}"


def _import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    if not module:
        raise ConfigError(f"class_path {path!r} must be 'package.module.ClassName'")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"class_path {path!r} cannot be imported ({type(exc).__name__})") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseChatModel)):
        raise ConfigError(f"class_path {path!r} is not a langchain BaseChatModel subclass")
    return cls


def _llamacpp(config: ChatModelConfig) -> BaseChatModel:
    if not config.model_path:
        raise ConfigError("provider llamacpp needs model_path (a GGUF file)")
    path = Path(config.model_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"GGUF model file not found: {path}")
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError:
        raise ConfigError(f"provider llamacpp needs the llama.cpp extra: {_extra_hint('llamacpp')}") from None
    options: dict[str, Any] = {"n_ctx": 8192, "verbose": False, **config.kwargs}
    return ChatLlamaCpp(model_path=str(path), temperature=config.temperature, max_tokens=config.max_tokens, **options)


def _init(config: ChatModelConfig) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    if not config.model:
        raise ConfigError(f"provider {config.provider!r} needs a model name (`model:`)")
    options: dict[str, Any] = {"temperature": config.temperature, **config.kwargs}
    if config.max_tokens is not None:
        options.setdefault("max_tokens", config.max_tokens)
    if config.timeout is not None:
        options.setdefault("timeout", config.timeout)
    if config.base_url:
        options["base_url"] = config.base_url
        if config.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            # local OpenAI-compatible servers ignore the key, but the client insists on one
            options.setdefault("api_key", "not-needed")
    try:
        model = init_chat_model(config.model, model_provider=config.provider, **options)
    except ImportError:
        raise ConfigError(f"provider {config.provider!r} needs its integration: {_extra_hint(config.provider)}") from None
    except ValueError as exc:
        raise ConfigError(f"cannot build chat model for provider {config.provider!r}: {exc}") from None
    if not isinstance(model, BaseChatModel):
        raise ConfigError(f"provider {config.provider!r} did not give a chat model")
    return model


def build_chat_model(config: ChatModelConfig) -> BaseChatModel:
    """The chat model ``config`` names, after refusing a non-local endpoint not allowed."""
    url = intended_url(config)
    if url is not None and not config.allow_remote and not is_local_url(url, config.local_hosts):
        raise LLMError(
            f"LLM config names a non-local endpoint for provider {config.provider!r}; patient "
            "text stays on this machine unless the config sets `allow_remote: true`"
        )
    if config.class_path:
        model = _import_class(config.class_path)(**config.kwargs)
    elif config.provider == "llamacpp" or (config.provider is None and config.model_path):
        model = _llamacpp(config)
    elif config.provider:
        model = _init(config)
    else:
        raise ConfigError("LLM config `model:` needs a provider, a model_path or a class_path")
    check_local(model, allow_remote=config.allow_remote, local_hosts=config.local_hosts)
    return model


def chat_model_from_config(source: str | os.PathLike) -> BaseChatModel:
    """The chat model named by an LLM config YAML's ``model:`` section (see
    :func:`realm.llm.config.load_chat_config`), refused if non-local and not allowed."""
    return build_chat_model(load_chat_config(source))
