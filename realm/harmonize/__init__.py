"""Medication concept harmonization (after EHRmonize): raw EHR strings -> standard concepts.

Tasks (:mod:`~realm.harmonize.tasks`), an offline KG backend, an LLM backend with
sampling and voting, the :func:`harmonize` API, scoring, and PRESCRIPTIONS -> mentions.
"""

from realm.harmonize.answers import Answer, ParsedAnswer, parse_answer
from realm.harmonize.evaluate import gold_for, read_labels, score
from realm.harmonize.harmonizer import BACKENDS, HarmonizedConcept, harmonize, make_backends
from realm.harmonize.kg_backend import DrugMatch, KGBackend
from realm.harmonize.llm_backend import LLMBackend, build_messages, vote
from realm.harmonize.prescriptions import MENTION_COLUMNS, prescriptions_to_mentions
from realm.harmonize.tasks import (
    BINARY_TASKS,
    BUILTIN_TASKS,
    ROUTE_CLASSES,
    UNSURE,
    HarmonizeTask,
    Shot,
    custom_task,
    get_task,
    normalize_generic,
    read_shots,
)

__all__ = [
    "Answer", "ParsedAnswer", "parse_answer",
    "score", "read_labels", "gold_for",
    "BACKENDS", "HarmonizedConcept", "harmonize", "make_backends",
    "DrugMatch", "KGBackend",
    "LLMBackend", "build_messages", "vote",
    "MENTION_COLUMNS", "prescriptions_to_mentions",
    "BINARY_TASKS", "BUILTIN_TASKS", "ROUTE_CLASSES", "UNSURE", "HarmonizeTask", "Shot",
    "custom_task", "get_task", "normalize_generic", "read_shots",
]
