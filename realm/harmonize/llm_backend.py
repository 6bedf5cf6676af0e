"""The LLM backend: few-shot prompts, repeated sampling, majority vote, an agreement score.

The model sits behind :class:`ChatModel`, the one narrow interface to the outside service:
anything with LangChain's ``invoke(messages)`` returning a message with ``.content``
(every ``BaseChatModel`` does). Tests pass a scripted fake; real models come from a
LLM config via realm.extract.chat_models (:func:`chat_model_from_config`),
which also refuses non-local endpoints unless allowed (realm.extract.privacy).

Each string is asked ``n_samples`` times (temperature > 0 gives different samples); every
reply is read by :func:`realm.harmonize.answers.parse_answer`; the most frequent readable
answer wins when its share of *all* samples reaches ``min_agreement``, else the answer
is :data:`UNSURE`. Replies are cached on disk, keyed by (string, task, model, prompt
version, shots hash, samples), so a re-run costs no calls.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from realm.cache import atomic_path, config_hash, stage_dir
from realm.errors import ConfigError, LLMError
from realm.harmonize.answers import Answer, parse_answer
from realm.harmonize.tasks import UNSURE, HarmonizeTask

__all__ = ["ChatModel", "LLMBackend", "build_messages", "vote", "model_id", "chat_model_from_config", "PROMPT_VERSION"]

log = logging.getLogger(__name__)

#: Bump when the prompt wording changes: cached replies to the old prompt are then unused.
PROMPT_VERSION = "1"
_CACHE_STAGE = "harmonize"


@runtime_checkable
class ChatModel(Protocol):
    """The part of a LangChain chat model this backend uses."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:  # noqa: A002 - LangChain's name
        ...


def model_id(model: ChatModel) -> str:
    """A stable name for cache keys: class, model name and temperature when exposed."""
    name = next((str(getattr(model, a)) for a in ("model_name", "model", "model_id") if getattr(model, a, None)), "")
    temperature = getattr(model, "temperature", None)
    return f"{type(model).__name__}:{name}:t={temperature}"


def build_messages(task: HarmonizeTask, text: str) -> list[BaseMessage]:
    """System instruction, then each shot as a user/assistant turn, then the query."""
    if task.is_open:
        allowed = "Reply with the generic name only, in lower case."
    else:
        allowed = "Reply with exactly one of: " + ", ".join(task.classes) + "."
    system = (
        "You harmonize raw electronic health record medication data into standard concepts. "
        f"{task.question} {allowed} If you cannot tell, reply '{UNSURE}'. No explanation."
    )
    messages: list[BaseMessage] = [SystemMessage(system)]
    for shot in task.shots:
        messages += [HumanMessage(f"{task.field}: {shot.text}"), AIMessage(shot.answer)]
    messages.append(HumanMessage(f"{task.field}: {text}"))
    return messages


def vote(task: HarmonizeTask, replies: Sequence[str], min_agreement: float) -> Answer:
    """Majority vote over parsed replies; agreement = winner's share of all replies."""
    parsed = [parse_answer(task, r) for r in replies]
    unparseable = sum(p.status == "unparseable" for p in parsed)
    counts = Counter(p.value for p in parsed if p.value is not None)
    if not replies or not counts:
        return Answer(UNSURE, 0.0, len(replies), unparseable)
    # Ties break towards UNSURE, then alphabetically, so the result never depends on order.
    best, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0] != UNSURE, kv[0]))
    agreement = n / len(replies)
    tied = sum(1 for c in counts.values() if c == n) > 1
    value = best if agreement >= min_agreement and not tied else UNSURE
    return Answer(value, agreement, len(replies), unparseable)


class LLMBackend:
    """Asks a chat model ``n_samples`` times per string and votes (see the module notes)."""

    name = "llm"

    def __init__(
        self,
        model: ChatModel,
        *,
        n_samples: int = 5,
        min_agreement: float = 0.6,
        cache: bool = True,
        cache_root: str | Path | None = None,
        model_name: str | None = None,
    ) -> None:
        if n_samples < 1:
            raise ConfigError(f"n_samples must be at least 1, got {n_samples}")
        if not 0.0 <= min_agreement <= 1.0:
            raise ConfigError(f"min_agreement must lie in [0, 1], got {min_agreement}")
        if not isinstance(model, ChatModel):
            raise ConfigError(f"{type(model).__name__} has no invoke(messages); pass a LangChain chat model")
        temperature = getattr(model, "temperature", None)
        if n_samples > 1 and temperature is not None and float(temperature) == 0.0:
            log.warning("%d samples at temperature 0 will agree by construction; set a temperature > 0", n_samples)
        self.model = model
        self.n_samples = n_samples
        self.min_agreement = min_agreement
        self.cache = cache
        self.cache_root = cache_root
        self.model_name = model_name or model_id(model)
        self.calls = 0  # model invocations made (cache hits excluded)

    def _cache_file(self, text: str, task: HarmonizeTask) -> Path:
        key = config_hash(text, task.name, task.question, task.classes, self.model_name, PROMPT_VERSION,
                          task.shots_hash, self.n_samples)
        return stage_dir(_CACHE_STAGE, key[:2], self.cache_root) / f"{key}.json"

    def _ask(self, messages: list[BaseMessage]) -> str:
        try:
            reply = self.model.invoke(messages)
        except Exception as exc:  # any provider error: timeouts, HTTP, quota
            raise LLMError(f"chat model {self.model_name} failed: {type(exc).__name__}: {exc}") from exc
        self.calls += 1
        content = getattr(reply, "content", reply)
        if isinstance(content, list):  # content blocks: keep the text parts
            content = " ".join(str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in content)
        return str(content)

    def replies(self, text: str, task: HarmonizeTask) -> list[str]:
        """The raw replies for one string (from the cache when present)."""
        path = self._cache_file(text, task)
        if self.cache and path.is_file():
            return list(json.loads(path.read_text(encoding="utf-8"))["replies"])
        messages = build_messages(task, text)
        out = [self._ask(messages) for _ in range(self.n_samples)]
        if self.cache:
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps({"replies": out, "model": self.model_name, "task": task.name}), encoding="utf-8")
        return out

    def answer(self, text: str, task: HarmonizeTask) -> Answer:
        """The voted answer for one string."""
        return vote(task, self.replies(text, task), self.min_agreement)


def chat_model_from_config(path: str | Path) -> ChatModel:
    """The chat model of an LLM config YAML, built by :mod:`realm.extract.chat_models`.

    The same file as ``realm extract --llm-config`` (its ``model:`` section), or that
    section alone; the endpoint must be local unless it sets ``allow_remote: true``
    (realm.extract.privacy). For voting, give it a temperature > 0::

        model: {provider: ollama, model: llama3.1:8b, temperature: 0.7}
    """
    from pydantic import ValidationError

    from realm.extract.chat_models import ChatModelConfig, build_chat_model

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"LLM config {path} not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    section = raw.get("model", raw) if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: expected a mapping (or a 'model:' mapping) of chat-model settings")
    try:
        config = ChatModelConfig(**section)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid chat-model settings ({exc.error_count()} errors: {exc.errors()[0]['msg']})") from exc
    return build_chat_model(config)
