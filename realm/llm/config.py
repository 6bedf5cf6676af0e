"""The chat-model settings (the ``model:`` section of an LLM config YAML) and their loader.

One file configures a run's model for every stage that asks one: ``realm extract
--llm-config`` reads its ``model:`` and ``extractor:`` sections, ``realm harmonize
--llm-config`` its ``model:`` section (or a file holding that section alone). Ways to name a
model::

    # an OpenAI-compatible server on this machine (vLLM, llama-server, LM Studio)
    provider: openai
    model: Qwen/Qwen2.5-7B-Instruct
    base_url: http://127.0.0.1:8000/v1

    # Ollama (default endpoint localhost:11434)
    provider: ollama
    model: llama3.1:8b

    # a GGUF file run in-process by llama.cpp
    provider: llamacpp
    model_path: ~/models/qwen2.5-7b-instruct-q4_k_m.gguf

    # any BaseChatModel subclass, by import path
    class_path: mypackage.models.MyChatModel
    kwargs: {some_option: 1}

Settings are frozen dataclasses checked by pydantic (:func:`load_settings`), so a mistyped key
or a wrongly typed value is refused with the file and the key named. Not through
:func:`realm.config.load_config`: jsonargparse reads a ``class_path:`` key as its own
instruction to build a class, and ``class_path`` is how this file names a custom chat model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

from realm.config import config_path
from realm.errors import ConfigError

__all__ = ["ChatModelConfig", "STRICT", "load_chat_config", "load_settings"]

T = TypeVar("T")

#: The pydantic setting of every LLM settings dataclass: an unknown key is an error.
STRICT = ConfigDict(extra="forbid")

#: The section of an LLM config YAML that names the model.
MODEL_SECTION = "model"


@with_config(STRICT)
@dataclass(frozen=True)
class ChatModelConfig:
    """How to build the chat model (see the module docstring for examples)."""

    provider: str | None = None
    """LangChain provider name (``openai``, ``ollama``, ``llamacpp``, ...)."""
    model: str | None = None
    """The model's name at the provider."""
    base_url: str | None = None
    """The endpoint; for OpenAI-compatible servers on this machine."""
    model_path: str | None = None
    """A GGUF file run in-process by llama.cpp."""
    class_path: str | None = None
    """Any ``BaseChatModel`` subclass by import path, built with ``kwargs``."""
    temperature: float = 0.0
    max_tokens: int | None = None
    """The answer budget. None: sized by the stage that asks (the extractor from its chunk
    size, the harmonizer for a one-word reply); a bound matters because a small model can
    repeat itself until the budget runs out."""
    stop: tuple[str, ...] | None = None
    """Stop sequences for runtimes that take them (openai, ollama, llamacpp). None: chat-template
    turn markers on local endpoints (realm.llm.build.DEFAULT_STOP); ``[]``: none."""
    timeout: float | None = 120.0
    """Seconds per request, for every provider that takes one (ChatLlamaCpp takes none: an
    in-process call is bounded by ``max_tokens`` only)."""
    allow_remote: bool = False
    """Send text to a non-local endpoint; off because notes are patient data."""
    local_hosts: tuple[str, ...] = ()
    """Extra host names treated as local (e.g. the hospital's own inference server)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Passed to the model class as they are."""

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1 (or unset), got {self.max_tokens}")

    def sized(self, max_tokens: int) -> ChatModelConfig:
        """This config with the asking stage's answer budget, unless it sets its own."""
        return self if self.max_tokens is not None else dataclasses.replace(self, max_tokens=max_tokens)

    def model_id(self) -> str:
        """A stable id of the model for cache keys (provider, model or file name and size)."""
        if self.model_path:
            path = Path(self.model_path).expanduser()
            size = path.stat().st_size if path.is_file() else -1
            return f"llamacpp:{path.name}:{size}"
        name = self.class_path or f"{self.provider}:{self.model}"
        return f"{name}@{self.base_url}" if self.base_url else name


def _read(source: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    path = config_path(source)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"LLM config {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict | None):
        raise ConfigError(f"LLM config {path}: expected a mapping of settings, got {type(data).__name__}")
    return path, data or {}


def _validate(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    try:
        return TypeAdapter(cls).validate_python(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"LLM config {where}: {problems}") from None
    except ConfigError as exc:  # a dataclass's own check of its values
        raise ConfigError(f"LLM config {where}: {exc}") from None


def load_settings(cls: type[T], source: str | os.PathLike) -> T:
    """A whole LLM config YAML (a path, or a name under ``configs/``) as the settings dataclass
    ``cls`` of the stage that reads it; errors name the file and the key."""
    path, data = _read(source)
    return _validate(cls, data, str(path))


def load_chat_config(source: str | os.PathLike) -> ChatModelConfig:
    """The ``model:`` section of an LLM config YAML, or the file itself when it holds that
    section alone (its ``model`` key is then the model's name, not a mapping). The other
    sections belong to the stages that read them and are not checked here."""
    path, data = _read(source)
    section = data.get(MODEL_SECTION)
    if isinstance(section, dict):
        return _validate(ChatModelConfig, section, f"{path} `{MODEL_SECTION}:`")
    return _validate(ChatModelConfig, data, str(path))
