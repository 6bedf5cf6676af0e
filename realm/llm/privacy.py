"""Where would patient text go? Refuse non-local routes unless the config allows them.

Notes are patient data. A model is *local* when it runs in this process (llama.cpp on a
GGUF file, a test fake) or behind a loopback address (vLLM, Ollama, llama-server on
127.0.0.1/localhost/::1), or on a host the config names in ``local_hosts`` (the hospital's
own GPU server). Everything else, including a hosted provider with its default endpoint,
is *remote* and needs ``allow_remote: true``.

The *effective destination* is more than the base URL: an HTTP client sends its requests
through a proxy when an option says so (``openai_proxy``, ``anthropic_proxy``, a proxy in
``client_kwargs``, an ``http_client`` built with ``proxy=``) or when the environment does
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, lower case too, less ``NO_PROXY``), and
httpx honours the environment even for a 127.0.0.1 base URL. Every hop must be local.

The check reads the model object's attributes and the httpx clients it holds, so it also
covers models built outside :mod:`realm.llm.build`. httpx exposes no public view of the proxy
a client picked for a URL; :func:`_client_proxy` reads it through httpx's own routing
(``_transport_for_url``) so the answer is what the client will do, not a re-implementation.
A custom transport, or a custom in-process ``BaseChatModel`` that opens its own connections
without exposing a URL, cannot be seen; document such models' endpoints.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from realm.errors import LLMError

__all__ = ["Endpoint", "Route", "is_local_url", "model_endpoint", "check_local", "check_routes", "env_proxy",
           "proxy_options", "ollama_default_url", "HOSTED_PACKAGES"]

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
#: Attributes through which LangChain models and the SDKs under them hold their httpx clients
#: (ChatOpenAI: http_client, root_client._client; ChatOllama: _client._client).
_CLIENT_ATTRIBUTES = ("http_client", "http_async_client", "root_client", "root_async_client", "client",
                      "async_client", "_client", "_async_client")
#: Option names that set a proxy (``openai_proxy``, ``anthropic_proxy``, httpx's ``proxy``/``proxies``).
_PROXY_WORD = "prox"


@dataclass(frozen=True)
class Route:
    """A hop patient text takes on its way out: the option that sets it and its URL."""

    option: str  # e.g. "openai_proxy", "kwargs.client_kwargs.proxy", "environment variable HTTP_PROXY"
    url: str


@dataclass(frozen=True)
class Endpoint:
    """Where a model sends its prompts: a URL, a file (in-process), or nothing seen; and the
    proxies its requests go through on the way (empty: straight to ``url``)."""

    url: str | None
    kind: str  # "url" | "file" | "in_process"
    label: str  # the model class, for messages
    proxies: tuple[Route, ...] = ()


def _host(url: str) -> str:
    return (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()


def is_local_url(url: str, local_hosts: Iterable[str] = ()) -> bool:
    """True for loopback hosts, unix sockets, and the hosts listed in ``local_hosts``."""
    if url.startswith(("unix:", "http+unix:")):
        return True
    host = _host(url)
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


def ollama_default_url() -> str:
    """Where the Ollama client goes without a base URL: ``$OLLAMA_HOST``, else localhost."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return LOCAL_DEFAULTS["langchain_ollama"]
    return host if "://" in host else f"http://{host}"


def env_proxy(url: str) -> Route | None:
    """The proxy the environment sets for ``url`` (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``, any case, less ``NO_PROXY``), decided by httpx itself: a client that trusts
    the environment, asked where it would send ``url``."""
    with httpx.Client() as client:  # trust_env=True: reads the variables as every SDK's default client does
        proxy = _client_proxy(client, url)
    if proxy is None:
        return None
    scheme = urlsplit(url).scheme or "http"
    names = (f"{scheme}_proxy", "all_proxy")
    name = next((k for k, v in sorted(os.environ.items()) if k.lower() in names and _host(v) == _host(proxy)), None)
    return Route(f"environment variable {name}" if name else "proxy environment variables", proxy)


def proxy_options(options: Mapping[str, object], prefix: str = "", *, proxied: bool = False) -> Iterator[Route]:
    """Proxy URLs set in a mapping of options, nested mappings included (``client_kwargs:
    {proxy: ...}``, httpx's ``proxies: {"https://": ...}``); each named by its key path.
    A value counts when its key, or a key above it, names a proxy."""
    for key, value in options.items():
        name = f"{prefix}{key}"
        here = proxied or _PROXY_WORD in str(key).lower()
        if isinstance(value, Mapping):
            yield from proxy_options(value, f"{name}.", proxied=here)
        elif here and (url := _proxy_url(value)):
            yield Route(name, url)


def _proxy_url(value: object) -> str | None:
    """The URL a proxy option holds: a string, an httpx.Proxy (its .url), a secret string;
    None for anything else (a flag such as ``use_proxy: false`` names no destination)."""
    url = getattr(value, "url", value)
    secret = getattr(url, "get_secret_value", None)
    url = secret() if callable(secret) else url
    return str(url) if isinstance(url, (str, httpx.URL)) and str(url) else None


def _unwrap(model: object) -> object:
    # RunnableBinding (bind_tools, with_config) and init_chat_model's configurable wrapper
    for _ in range(8):
        inner = getattr(model, "bound", None)
        if inner is None or inner is model:
            return model
        model = inner
    return model


def _is_http_client(obj: object) -> bool:
    # httpx's Client/AsyncClient and their forks (openai >= 3 ships on httpx2): same routing API
    return callable(getattr(obj, "_transport_for_url", None)) and isinstance(getattr(obj, "trust_env", None), bool)


def _http_clients(model: object) -> Iterator[tuple[str, Any]]:
    """The httpx(-like) clients ``model`` holds, each with the model attribute it was found under."""
    seen: set[int] = set()
    frontier = [(name, getattr(model, name, None)) for name in _CLIENT_ATTRIBUTES]
    for _ in range(3):  # model -> SDK resource -> SDK client -> httpx client
        deeper = []
        for name, obj in frontier:
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if _is_http_client(obj):
                yield name, obj
            else:
                deeper += [(name, getattr(obj, attr, None)) for attr in ("_client", "_async_client")]
        frontier = deeper


def _url_class(client: object) -> type:
    """The URL class of ``client``'s HTTP package (httpx, or a fork such as httpx2)."""
    for cls in type(client).__mro__:
        package = sys.modules.get(cls.__module__.split(".")[0])
        url = getattr(package, "URL", None)
        if isinstance(url, type) and isinstance(getattr(package, "Client", None), type):
            return url
    return httpx.URL


def _client_proxy(client: Any, url: str) -> str | None:
    """The proxy ``client`` sends ``url``'s requests through (None: direct, or unseen)."""
    try:
        transport = client._transport_for_url(_url_class(client)(url if "://" in url else f"http://{url}"))
    except Exception:  # noqa: BLE001 - httpx's InvalidURL and kin: a URL the client cannot send to at all
        return None
    proxy = getattr(getattr(transport, "_pool", None), "_proxy_url", None)
    if proxy is None:
        return None
    port = f":{proxy.port}" if proxy.port else ""
    return f"{proxy.scheme.decode()}://{proxy.host.decode()}{port}"


def _proxies(model: object, url: str) -> tuple[Route, ...]:
    """Every proxy between ``model`` and ``url``: from its options, its httpx clients, and
    the environment when no client is visible (the SDK would build one that trusts it)."""
    if url.startswith(("unix:", "http+unix:")):
        return ()  # a unix socket: no TCP, no proxy
    fields = getattr(type(model), "model_fields", None) or {}
    routes = list(proxy_options({name: getattr(model, name, None) for name in fields}))
    clients = list(_http_clients(model))
    from_env = env_proxy(url)
    for name, client in clients:
        proxy = _client_proxy(client, url)
        if proxy is None:
            continue
        same = client.trust_env and from_env is not None and _host(from_env.url) == _host(proxy)
        routes.append(from_env if same else Route(name, proxy))
    if not clients:
        routes.append(from_env)
    unique: dict[str, Route] = {}
    for route in routes:
        if route is not None:
            unique.setdefault(route.url.rstrip("/").lower(), route)  # the option that set it first names it
    return tuple(unique.values())


def model_endpoint(model: object) -> Endpoint:
    """The endpoint ``model`` talks to and the proxies on the way, read from its attributes,
    its httpx clients, its package and the environment."""
    model = _unwrap(model)
    cls = type(model)
    label = f"{cls.__module__}.{cls.__qualname__}"
    url = next((str(getattr(model, a)) for a in _URL_ATTRIBUTES if getattr(model, a, None)), None)
    package = cls.__module__.split(".")[0]
    if url is None and getattr(model, "model_path", None):
        return Endpoint(None, "file", label)
    if url is None and package in HOSTED_PACKAGES:
        url = HOSTED_PACKAGES[package]
    if url is None and package in LOCAL_DEFAULTS:
        url = ollama_default_url()
    if url is None:
        return Endpoint(None, "in_process", label)
    return Endpoint(url, "url", label, _proxies(model, url))


def check_routes(where: str, url: str | None, proxies: Iterable[Route], *, allow_remote: bool = False,
                 local_hosts: Iterable[str] = ()) -> None:
    """Raise :class:`LLMError` if ``url`` or any proxy on the way is remote and not allowed;
    ``where`` names the model or config for the message (never a note)."""
    if allow_remote:
        return
    hosts = tuple(local_hosts)
    if url is not None and not is_local_url(url, hosts):
        raise LLMError(
            f"{where} sends notes to the non-local host {_host(url)!r}; patient text stays on "
            "this machine unless the LLM config sets `allow_remote: true` (or lists the host "
            "under `local_hosts`)"
        )
    for route in proxies:
        if not is_local_url(route.url, hosts):
            raise LLMError(
                f"{where} would send notes through the non-local proxy {_host(route.url)!r} set by "
                f"`{route.option}`; patient text stays on this machine unless the LLM config sets "
                "`allow_remote: true` (or lists the proxy under `local_hosts`, or, for a proxy from "
                "the environment, the endpoint's host is in NO_PROXY)"
            )


def check_local(model: object, *, allow_remote: bool = False, local_hosts: Iterable[str] = ()) -> Endpoint:
    """Return ``model``'s endpoint; raise :class:`LLMError` if it, or a proxy on the way to
    it, is remote and not allowed."""
    endpoint = model_endpoint(model)
    check_routes(endpoint.label, endpoint.url, endpoint.proxies, allow_remote=allow_remote, local_hosts=local_hosts)
    return endpoint
