"""The LLM backend: few-shot prompts, repeated sampling, majority vote, an agreement score.

The model is any LangChain chat model, called through realm.llm (:class:`ChatClient`:
retries on transient errors, the error discipline); tests pass a scripted fake
(realm.llm.fake); real models come from an LLM config's ``model:`` section
(:func:`realm.llm.build.chat_model_from_config`), which refuses non-local endpoints unless
allowed (realm.llm.privacy).

Each string is asked ``n_samples`` times (temperature > 0 gives different samples); every
reply is read by :func:`realm.harmonize.answers.parse_answer`; the most frequent readable
answer wins when its share of *all* samples reaches ``min_agreement``, else the answer
is :data:`UNSURE`. Replies are cached on disk (realm.llm.cache), keyed by the string and by
(task, question, classes, model, prompt version, shots hash, samples), so a re-run costs no
calls and an interrupted run resumes: Ctrl-C raises :class:`~realm.errors.Interrupted` saying
how many strings are cached. A local server is probed once before the first call, so a dead
one is one clear error (realm.llm.runtime).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from realm.errors import ConfigError, Interrupted
from realm.harmonize.answers import Answer, parse_answer
from realm.harmonize.tasks import UNSURE, HarmonizeTask
from realm.llm.build import model_id
from realm.llm.cache import ResponseCache
from realm.llm.client import ChatClient, RetryPolicy
from realm.llm.privacy import model_endpoint
from realm.llm.runtime import ensure_reachable

__all__ = ["LLMBackend", "build_messages", "vote", "PROMPT_VERSION", "CACHE_STAGE", "REPLY_MAX_TOKENS"]

log = logging.getLogger(__name__)

#: Bump when the prompt wording changes: cached replies to the old prompt are then unused.
PROMPT_VERSION = "1"
#: The cache stage of the replies (realm.llm.cache).
CACHE_STAGE = "harmonize"
#: The answer budget when the model config sets none: a reply is one concept name or class
#: ("piperacillin and tazobactam" is 8 tokens); more only lets a small model ramble.
REPLY_MAX_TOKENS = 32


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
        model: Any,
        *,
        n_samples: int = 5,
        min_agreement: float = 0.6,
        cache: bool = True,
        cache_root: str | Path | None = None,
        model_name: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if n_samples < 1:
            raise ConfigError(f"n_samples must be at least 1, got {n_samples}")
        if not 0.0 <= min_agreement <= 1.0:
            raise ConfigError(f"min_agreement must lie in [0, 1], got {min_agreement}")
        self.client = ChatClient(model, retry=retry, sleep=sleep)
        temperature = getattr(model, "temperature", None)
        if n_samples > 1 and temperature is not None and float(temperature) == 0.0:
            log.warning("%d samples at temperature 0 will agree by construction; set a temperature > 0", n_samples)
        self.model = model
        self.n_samples = n_samples
        self.min_agreement = min_agreement
        self.cache = cache
        self.cache_root = cache_root
        self.model_name = model_name or model_id(model)
        self.calls = 0  # model invocations made, retries included (cache hits excluded)
        self.cached = 0  # strings whose replies this backend wrote to the cache
        self._endpoint = model_endpoint(model)
        self._reached = False  # the endpoint answered a probe

    def _cache(self, task: HarmonizeTask) -> ResponseCache:
        return ResponseCache(CACHE_STAGE, {
            "task": task.name, "question": task.question, "classes": task.classes, "model": self.model_name,
            "prompt": PROMPT_VERSION, "shots": task.shots_hash, "samples": self.n_samples}, self.cache_root)

    def _ask(self, messages: list[BaseMessage]) -> str:
        reply = self.client.invoke(messages)
        self.calls += reply.calls
        return reply.text

    def replies(self, text: str, task: HarmonizeTask) -> list[str]:
        """The raw replies for one string (from the cache when present)."""
        cache = self._cache(task) if self.cache else None
        cached = cache.get(text) if cache is not None else None
        if cached is not None and isinstance(cached.get("replies"), list):
            return [str(r) for r in cached["replies"]]
        if not self._reached:
            ensure_reachable(self._endpoint)
            self._reached = True
        messages = build_messages(task, text)
        try:
            out = [self._ask(messages) for _ in range(self.n_samples)]
        except KeyboardInterrupt as exc:
            # each string's replies are written atomically once all its samples are in
            raise Interrupted(f"{self.cached} strings cached" if cache is not None else "nothing cached (cache off)") from exc
        if cache is not None:
            cache.put(text, {"replies": out, "model": self.model_name, "task": task.name})
            self.cached += 1
        return out

    def answer(self, text: str, task: HarmonizeTask) -> Answer:
        """The voted answer for one string."""
        return vote(task, self.replies(text, task), self.min_agreement)
