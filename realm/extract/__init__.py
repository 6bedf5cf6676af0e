"""realm.extract: entity mentions from clinical notes and time series.

Extractors share one protocol (:class:`Extractor`): the offline :class:`LexiconExtractor`
(lexicon + sections + ConText), the :class:`LLMExtractor` (any LangChain chat model, local
by default, grounded and cached), and the :class:`EnsembleExtractor` over several of them.
:func:`timeseries_findings` turns abnormal labs and vitals into lab-finding entities, and
:func:`entity_sets` groups a mentions table per stay for the models.

Names are imported on first use, so ``import realm.extract.lexicon`` does not pay for
LangChain.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Extractor",
    "check_mentions",
    "Lexicon",
    "Term",
    "LexiconExtractor",
    "ConText",
    "SectionDetector",
    "LLMExtractor",
    "LLMExtractorConfig",
    "LLMConfig",
    "LLMStats",
    "load_llm_config",
    "EnsembleExtractor",
    "merge_mentions",
    "timeseries_findings",
    "LabRule",
    "MENTION_COLUMNS",
    "mentions_frame",
    "entity_sets",
    "PROMPT_VERSION",
    "SCHEMA_VERSION",
]

_WHERE: dict[str, str] = {
    "Extractor": "realm.extract.base",
    "check_mentions": "realm.extract.base",
    "Lexicon": "realm.extract.lexicon",
    "Term": "realm.extract.lexicon",
    "LexiconExtractor": "realm.extract.lexicon_extractor",
    "ConText": "realm.extract.context",
    "SectionDetector": "realm.extract.sections",
    "LLMExtractor": "realm.extract.llm",
    "LLMExtractorConfig": "realm.extract.llm_config",
    "LLMConfig": "realm.extract.llm_config",
    "LLMStats": "realm.extract.llm",
    "load_llm_config": "realm.extract.llm_config",
    "EnsembleExtractor": "realm.extract.ensemble",
    "merge_mentions": "realm.extract.ensemble",
    "timeseries_findings": "realm.extract.findings",
    "LabRule": "realm.extract.findings",
    "MENTION_COLUMNS": "realm.extract.mentions_table",
    "mentions_frame": "realm.extract.mentions_table",
    "entity_sets": "realm.extract.mentions_table",
    "PROMPT_VERSION": "realm.extract.llm_prompt",
    "SCHEMA_VERSION": "realm.extract.llm_schema",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'realm.extract' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
