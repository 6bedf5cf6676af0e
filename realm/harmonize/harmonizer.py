"""The Python API: ``harmonize(strings, task, backend=...)`` -> one concept per string.

    from realm.harmonize import harmonize
    concepts = harmonize(["Vancomycin HCl", "NS"], "antibiotic", backend="kg")

Backends: ``"kg"`` (offline rules + KG, :mod:`realm.harmonize.kg_backend`), ``"llm"``
(few-shot, sampled, voted, :mod:`realm.harmonize.llm_backend`) and ``"llm+kg"`` (the KG
answers what it knows; the LLM is asked only where the KG is unsure). Each distinct
string is answered once, however often it repeats.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from realm.errors import ConfigError
from realm.harmonize.answers import Answer
from realm.harmonize.kg_backend import KGBackend
from realm.harmonize.llm_backend import LLMBackend
from realm.harmonize.tasks import UNSURE, HarmonizeTask, Shot, get_task
from realm.kg.graph import KnowledgeGraph

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["HarmonizedConcept", "harmonize", "make_backends", "BACKENDS"]

Backend = Literal["kg", "llm", "llm+kg"]
BACKENDS: tuple[str, ...] = ("kg", "llm", "llm+kg")


@dataclass(frozen=True)
class HarmonizedConcept:
    """The harmonized value of one raw string for one task."""

    text: str
    task: str
    value: str  # a class, a generic name, or "unsure"
    agreement: float  # share of samples behind ``value`` (1.0 for a KG rule hit)
    backend: str  # the backend that answered ("kg" or "llm"), "none" when no backend knew
    n_answers: int  # replies (LLM samples) or rule look-ups behind the answer
    n_unparseable: int = 0
    node_id: str | None = None
    link_score: float | None = None

    @property
    def is_unsure(self) -> bool:
        return self.value == UNSURE


def _kg(kg: KnowledgeGraph | str | os.PathLike | None) -> KnowledgeGraph:
    if isinstance(kg, KnowledgeGraph):
        return kg
    from realm.kg.spec import load_kg  # builds or reads the cached KG: only when asked

    return load_kg(kg or "default", progress=False)


def make_backends(
    backend: str,
    *,
    kg: KnowledgeGraph | str | os.PathLike | None = None,
    chat_model: BaseChatModel | None = None,
    n_samples: int = 5,
    min_agreement: float = 0.6,
    cache: bool = True,
    cache_root: str | Path | None = None,
) -> list[KGBackend | LLMBackend]:
    """The backends to consult in order for ``backend`` (see the module notes)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {list(BACKENDS)}")
    out: list[KGBackend | LLMBackend] = []
    if "kg" in backend:
        out.append(KGBackend(_kg(kg)))
    if "llm" in backend:
        if chat_model is None:
            raise ConfigError(f"backend {backend!r} needs a chat model (--llm-config)")
        out.append(LLMBackend(chat_model, n_samples=n_samples, min_agreement=min_agreement,
                              cache=cache, cache_root=cache_root))
    return out


def _resolve_task(task: str | HarmonizeTask, shots: Sequence[Shot] | None, n_shots: int | None) -> HarmonizeTask:
    resolved = get_task(task) if isinstance(task, str) else task
    if shots or n_shots is not None:
        resolved = resolved.with_shots(list(shots or ()), n_shots)
    return resolved


def _ask(backends: Sequence[KGBackend | LLMBackend], text: str, task: HarmonizeTask) -> HarmonizedConcept:
    answer, name = Answer(UNSURE, 0.0, 0), "none"
    for backend in backends:
        answer, name = backend.answer(text, task), backend.name
        if answer.value != UNSURE:
            break
    return HarmonizedConcept(text, task.name, answer.value, answer.agreement, name, answer.n_answers,
                             answer.n_unparseable, answer.node_id, answer.link_score)


def harmonize(
    strings: Iterable[str],
    task: str | HarmonizeTask,
    backend: str = "kg",
    *,
    kg: KnowledgeGraph | str | os.PathLike | None = None,
    chat_model: BaseChatModel | None = None,
    shots: Sequence[Shot] | None = None,
    n_shots: int | None = None,
    n_samples: int = 5,
    min_agreement: float = 0.6,
    cache: bool = True,
    cache_root: str | Path | None = None,
    backends: Sequence[KGBackend | LLMBackend] | None = None,
) -> list[HarmonizedConcept]:
    """Harmonize every string for ``task``; the result follows the input order.

    ``shots`` (user examples) come before the built-in ones; ``n_shots`` (0-10) cuts the
    prompt to that many. ``kg`` is a KnowledgeGraph or a spec for :func:`realm.kg.spec.load_kg`
    (default ``"default"``). Pass ready ``backends`` to reuse them across tasks.
    """
    resolved = _resolve_task(task, shots, n_shots)
    chain = list(backends) if backends is not None else make_backends(
        backend, kg=kg, chat_model=chat_model, n_samples=n_samples, min_agreement=min_agreement,
        cache=cache, cache_root=cache_root)
    items = ["" if s is None else str(s) for s in strings]
    answers: dict[str, HarmonizedConcept] = {}
    for text in dict.fromkeys(items):
        answers[text] = _ask(chain, text, resolved) if text.strip() else HarmonizedConcept(
            text, resolved.name, UNSURE, 0.0, "none", 0)
    return [answers[t] for t in items]
