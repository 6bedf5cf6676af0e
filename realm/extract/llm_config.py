"""The LLM extractor's settings: an LLM config YAML's ``extractor:`` section beside its ``model:``.

::

    model:                      # realm.llm.config.ChatModelConfig, shared with realm harmonize
      provider: openai
      model: qwen2.5-7b-instruct
      base_url: http://127.0.0.1:8000/v1
    extractor:                  # LLMExtractorConfig
      max_concurrency: 4
      structured: auto          # or force one of tools, json_schema, json_mode, grammar, text
      entity_types: [condition, finding, drug, procedure]
      max_failed_share: 0.1     # more unanswered chunks than this share: the run fails
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import with_config

from realm.errors import ConfigError
from realm.extract.llm_prompt import DEFAULT_TASK, ICU_TYPES
from realm.extract.llm_schema import ENTITY_TYPES
from realm.llm.client import RetryPolicy
from realm.llm.methods import Structured
from realm.llm.config import STRICT, ChatModelConfig, load_settings

__all__ = ["LLMExtractorConfig", "LLMConfig", "load_llm_config", "ANSWER_TOKENS_CAP"]

#: The largest answer budget sized from a chunk (see LLMExtractorConfig.answer_tokens).
ANSWER_TOKENS_CAP = 4096


@with_config(STRICT)
@dataclass(frozen=True)
class LLMExtractorConfig:
    """Extraction knobs (the ``extractor:`` section of an LLM config YAML)."""

    task: str = DEFAULT_TASK
    """The prediction task named in the prompt."""
    entity_types: tuple[str, ...] = ICU_TYPES
    """The entity kinds the prompt lists and the answer schema enumerates (ICU notes:
    condition, finding, drug, procedure; phenotype text: phenotype, finding)."""
    chunk_chars: int = 4000
    chunk_overlap: int = 400
    structured: Structured = "auto"
    """How the answer comes back: ``auto`` negotiates with the endpoint (tools, json_schema,
    json_mode, grammar, text, best first); a method name forces it (realm.llm.methods)."""
    max_failed_share: float = 0.1
    """The run fails (ExtractionError) when more chunks than this share stay unanswered."""
    max_concurrency: int = 4
    """Calls in flight at once (1 for an in-process model: realm.llm.runtime)."""
    retries: int = 3
    backoff: float = 1.0
    """Seconds before the first retry, doubled after."""
    max_backoff: float = 30.0
    fuzzy_threshold: float = 0.88
    max_entity_chars: int = 120
    """Longer "entities" are sentences, not entities."""
    cache: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if not self.entity_types or set(self.entity_types) - set(ENTITY_TYPES):
            raise ConfigError(f"entity_types must name kinds among {', '.join(sorted(ENTITY_TYPES))}, "
                              f"got {list(self.entity_types)}")
        if not 0.0 <= self.max_failed_share <= 1.0:
            raise ConfigError(f"max_failed_share must lie in [0, 1], got {self.max_failed_share}")
        if not 0.0 < self.fuzzy_threshold <= 1.0:
            raise ConfigError(f"fuzzy_threshold must lie in (0, 1], got {self.fuzzy_threshold}")
        self.retry_policy()  # validates retries and backoff

    def answer_tokens(self, chars: int | None = None) -> int:
        """The answer budget for a chunk of ``chars`` characters (default: a full chunk); the
        full-chunk budget is the model's when its config sets no ``max_tokens``.

        An entity costs about 20 tokens of JSON (its quoted words, type and assertion) and
        dense ICU text holds about one per 60 characters, so an honest answer needs about
        chars / 3 tokens, plus the envelope. The cap stops a model that repeats itself
        (2048 let a 135M model loop for minutes on a CPU); sizing each call from its own chunk
        stops it looping on a one-line note for the budget of a long one."""
        size = self.chunk_chars if chars is None else min(chars, self.chunk_chars)
        return min(ANSWER_TOKENS_CAP, 128 + size // 3)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.backoff, self.max_backoff)


@with_config(STRICT)
@dataclass(frozen=True)
class LLMConfig:
    """A whole LLM config file: the ``model:`` and the ``extractor:`` sections."""

    model: ChatModelConfig
    extractor: LLMExtractorConfig = field(default_factory=LLMExtractorConfig)


def load_llm_config(path: str | os.PathLike, **extractor: Any) -> LLMConfig:
    """Read and check an LLM config YAML; ``extractor`` settings (None: skipped) override the
    file's ``extractor:`` section (e.g. ``progress=False`` from a command line)."""
    config = load_settings(LLMConfig, path)
    changes = {k: v for k, v in extractor.items() if v is not None}
    return dataclasses.replace(config, extractor=dataclasses.replace(config.extractor, **changes)) if changes else config
