"""Where would patient text go? Refuse non-local endpoints unless the config allows them.

Notes are patient data. A model is *local* when it runs in this process (llama.cpp on a
GGUF file, a test fake) or behind a loopback address (vLLM, Ollama, llama-server on
127.0.0.1/localhost/::1), or on a host the config names in ``local_hosts`` (the hospital's
own GPU server). Everything else, including a hosted provider with its default endpoint,
is *remote* and needs ``allow_remote: true``.

The check reads the model object's endpoint attributes, so it also covers models built
outside :mod:`realm.llm.build`. A custom in-process ``BaseChatModel`` that opens
its own connections without exposing a URL cannot be seen; document such models' endpoints.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from realm.errors import LLMError

__all__ = ["Endpoint", "is_local_url", "model_endpoint", "check_local", "HOSTED_PACKAGES"]

#: Integration packages whose models call a hosted API when no base URL is configured.
HOSTED_PACKAGES: dict[str, str] = {
    "langchain_openai": "https://api.openai.com/v1",
    "langchain_anthropic": "https://api.anthropic.com",
    "langchain_google_genai": "https://generativelanguage.googleapis.com",
    "langchain_google_vertexai": "https://aiplatform.googleapis.com",
    "langchain_mistralai": "https://api.mistral.ai",
    "langchain_groq": "https://api.groq.com",
    "langchain_aws": "https://bedrock.amazonaws.com",
    "langchain_cohere": "https://api.cohere.com",
    "langchain_fireworks": "https://api.fireworks.ai",
    "langchain_together": "https://api.together.xyz",
    "langchain_deepseek": "https://api.deepseek.com",
    "langchain_xai": "https://api.x.ai",
    "langchain_perplexity": "https://api.perplexity.ai",
    "langchain_huggingface": "https://api-inference.huggingface.co",
    "langchain_nvidia_ai_endpoints": "https://integrate.api.nvidia.com",
}
#: Integrations whose default endpoint is this machine.
LOCAL_DEFAULTS: dict[str, str] = {"langchain_ollama": "http://localhost:11434"}
#: Attributes that hold an endpoint URL on LangChain chat models, most specific first.
_URL_ATTRIBUTES = ("openai_api_base", "base_url", "anthropic_api_url", "azure_endpoint", "api_base", "endpoint_url", "api_url")


@dataclass(frozen=True)
class Endpoint:
    """Where a model sends its prompts: a URL, a file (in-process), or nothing seen."""

    url: str | None
    kind: str  # "url" | "file" | "in_process"
    label: str  # the model class, for messages


def is_local_url(url: str, local_hosts: Iterable[str] = ()) -> bool:
    """True for loopback hosts, unix sockets, and the hosts listed in ``local_hosts``."""
    if url.startswith(("unix:", "http+unix:")):
        return True
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    if not host:
        return False
    if host in {h.lower() for h in local_hosts}:
        return True
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # 0.0.0.0 as a destination reaches this machine; servers print it as their bind address
    return address.is_loopback or address.is_unspecified


def _unwrap(model: object) -> object:
    # RunnableBinding (bind_tools, with_config) and init_chat_model's configurable wrapper
    for _ in range(8):
        inner = getattr(model, "bound", None)
        if inner is None or inner is model:
            return model
        model = inner
    return model


def model_endpoint(model: object) -> Endpoint:
    """The endpoint ``model`` talks to, read from its attributes and its package."""
    model = _unwrap(model)
    cls = type(model)
    label = f"{cls.__module__}.{cls.__qualname__}"
    for attr in _URL_ATTRIBUTES:
        value = getattr(model, attr, None)
        if value:
            return Endpoint(str(value), "url", label)
    if getattr(model, "model_path", None):
        return Endpoint(None, "file", label)
    package = cls.__module__.split(".")[0]
    if package in HOSTED_PACKAGES:
        return Endpoint(HOSTED_PACKAGES[package], "url", label)
    if package in LOCAL_DEFAULTS:
        return Endpoint(LOCAL_DEFAULTS[package], "url", label)
    return Endpoint(None, "in_process", label)


def check_local(model: object, *, allow_remote: bool = False, local_hosts: Iterable[str] = ()) -> Endpoint:
    """Return ``model``'s endpoint; raise :class:`LLMError` if it is remote and not allowed."""
    endpoint = model_endpoint(model)
    if endpoint.url is not None and not allow_remote and not is_local_url(endpoint.url, local_hosts):
        host = urlsplit(endpoint.url if "://" in endpoint.url else f"http://{endpoint.url}").hostname
        raise LLMError(
            f"{endpoint.label} sends notes to the non-local host {host!r}; patient text stays on "
            "this machine unless the LLM config sets `allow_remote: true` (or lists the host "
            "under `local_hosts`)"
        )
    return endpoint
