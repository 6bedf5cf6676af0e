"""Build a LangChain chat model from a :class:`~realm.llm.config.ChatModelConfig`.

Integration packages are optional extras, imported only here and only when asked for; a
missing one is a :class:`ConfigError` naming the extra to install. The endpoint and any proxy
an option sets are checked for locality (realm.llm.privacy) before the model is built, from
the config alone, and again after, from the model object and its HTTP clients.

Clients for a local endpoint are built to ignore proxy environment variables: hospital
machines often set ``HTTPS_PROXY`` globally, httpx honours it even for 127.0.0.1, and a
proxy can neither reach this machine's loopback server nor be trusted with notes.

Per-call limits: ``timeout`` goes to every provider that takes one (ChatLlamaCpp takes none:
an in-process call runs until ``max_tokens``); ``max_tokens`` left unset is sized by the stage
that asks (:meth:`ChatModelConfig.sized`), else :data:`FALLBACK_MAX_TOKENS`; ``stop`` left unset
is :data:`DEFAULT_STOP` for local runtimes that take stop sequences.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from realm.errors import ConfigError
from realm.llm.config import ChatModelConfig, load_chat_config
from realm.llm.privacy import HOSTED_PACKAGES, check_local, check_routes, is_local_url, ollama_default_url, proxy_options

__all__ = ["build_chat_model", "chat_model_from_config", "intended_url", "model_id", "EXTRAS", "DEFAULT_STOP",
           "FALLBACK_MAX_TOKENS"]

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
#: Chat-template turn markers. A server whose template does not map them to end-of-sequence
#: lets a small model write them as text and go on inventing the next turn; stopping there
#: ends the answer where it should. Four at most: OpenAI-compatible servers take no more.
DEFAULT_STOP: tuple[str, ...] = ("<|im_start|>", "<|im_end|>", "<|eot_id|>", "</s>")
#: The answer budget when neither the config nor the asking stage sets one: a bound on a
#: model that repeats itself, generous for any answer realm asks for.
FALLBACK_MAX_TOKENS = 1024
#: Providers whose chat models take ``stop`` (the others differ in name or reject it).
_STOP_PROVIDERS = {"openai", "ollama", "llamacpp"}
#: ChatOpenAI options through which a config picks its own HTTP client or proxy: then realm
#: builds none (langchain-openai refuses openai_proxy beside an http_client).
_OPENAI_CLIENT_OPTIONS = {"http_client", "http_async_client", "openai_proxy"}


def intended_url(config: ChatModelConfig) -> str | None:
    """Where the model would send text, judged from the config alone (None: in-process)."""
    if config.base_url:
        return config.base_url
    if config.provider == "ollama":
        return ollama_default_url()
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
    options: dict[str, Any] = {"n_ctx": 8192, "verbose": False, "stop": _stop(config, local=True), **config.kwargs}
    # no timeout: ChatLlamaCpp has none (an in-process call cannot be abandoned); max_tokens bounds it
    return ChatLlamaCpp(model_path=str(path), temperature=config.temperature, max_tokens=_max_tokens(config), **options)


def _max_tokens(config: ChatModelConfig) -> int:
    return config.max_tokens if config.max_tokens is not None else FALLBACK_MAX_TOKENS


def _stop(config: ChatModelConfig, *, local: bool) -> list[str] | None:
    if config.stop is not None:
        return list(config.stop) or None
    # hosted APIs differ (some reasoning models refuse `stop`); local runtimes all take it
    return list(DEFAULT_STOP) if local else None


def _client_options(config: ChatModelConfig, *, local: bool) -> dict[str, Any]:
    """HTTP client options: for a local endpoint, clients deaf to proxy environment variables
    (see the module docstring), unless the config picks its own client or proxy."""
    if config.provider == "ollama":
        # ollama.Client hands client_kwargs to httpx; ChatOllama takes no timeout of its own
        ours = {"timeout": config.timeout, **({"trust_env": False} if local else {})}
        return {"client_kwargs": {**ours, **config.kwargs.get("client_kwargs", {})}}
    if config.provider != "openai" or not local or set(config.kwargs) & _OPENAI_CLIENT_OPTIONS:
        return {}
    import openai  # present whenever langchain-openai is
    from langchain_openai import ChatOpenAI

    clients: dict[str, Any] = {"http_client": openai.DefaultHttpxClient(trust_env=False),
                               "http_async_client": openai.DefaultAsyncHttpxClient(trust_env=False)}
    if "http_socket_options" in ChatOpenAI.model_fields:
        # its socket options only shape the clients it builds itself; left on, it warns that
        # they shadow the proxy variables, which these clients ignore on purpose
        clients["http_socket_options"] = ()
    return clients


def _init(config: ChatModelConfig) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    if not config.model:
        raise ConfigError(f"provider {config.provider!r} needs a model name (`model:`)")
    url = intended_url(config)
    local = url is not None and is_local_url(url, config.local_hosts)
    options: dict[str, Any] = {"temperature": config.temperature, "max_tokens": _max_tokens(config), **config.kwargs}
    if config.timeout is not None and config.provider != "ollama":
        options.setdefault("timeout", config.timeout)
    if config.provider in _STOP_PROVIDERS and _stop(config, local=local) is not None:
        options.setdefault("stop", _stop(config, local=local))
    options.update(_client_options(config, local=local))
    if config.provider == "openai":
        # realm.llm.client owns retries (one repeat of a 500, then fall back or stop); the
        # OpenAI client's own two retries would multiply every failing call by three
        options.setdefault("max_retries", 0)
        if local and options.get("max_tokens") is not None:
            # langchain-openai sends the budget as `max_completion_tokens`, which llama.cpp's
            # server ignores (a small model then repeats itself up to the context length);
            # local servers all read `max_tokens`
            options.setdefault("extra_body", {}).setdefault("max_tokens", options["max_tokens"])
    if config.base_url or config.provider == "ollama":
        options["base_url"] = url
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
    """The chat model ``config`` names, after refusing a non-local endpoint or proxy not allowed."""
    check_routes(f"LLM config for provider {config.provider or config.class_path!r}", intended_url(config),
                 proxy_options(config.kwargs, "kwargs."), allow_remote=config.allow_remote,
                 local_hosts=config.local_hosts)
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


def chat_model_from_config(source: str | os.PathLike, *, max_tokens: int | None = None) -> BaseChatModel:
    """The chat model named by an LLM config YAML's ``model:`` section (see
    :func:`realm.llm.config.load_chat_config`), refused if non-local and not allowed;
    ``max_tokens`` is the asking stage's answer budget, used when the config sets none."""
    config = load_chat_config(source)
    return build_chat_model(config.sized(max_tokens) if max_tokens is not None else config)
