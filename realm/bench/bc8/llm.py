"""The ``llm`` and ``ensemble`` systems of ``realm bench bc8`` (with ``--llm-config YAML``).

* ``llm``: the LLM extractor (:class:`realm.extract.llm.LLMExtractor`, any LangChain chat
  model named by the config: a local server, a GGUF file, or a scripted fake) reads each
  observation; every grounded mention is linked to HPO ids by the lexicon trained on
  ``--train`` (the ids it finds inside the mention's spans) and keeps the LLM's assertion
  (negated or normal -> a negated finding). Mentions the lexicon cannot link are counted.
* ``ensemble``: the union, per observation and HPO id, of the offline default ``lexicon``
  and ``llm``; where both find an id the lexicon's finding (and its spans) is kept.

Both predict all test observations in one batch, so the extractor's bounded concurrency,
retries and on-disk answer cache (keyed by note hash, model and prompt version) apply:
a re-run is free and an interrupted one resumes. Each result carries ``llm`` counts (notes,
calls, cache hits, hallucinated entities dropped, unlinked mentions) and ``notes_per_s``.
Limits: a paraphrase that no lexicon surface covers stays unlinked (counted, not guessed),
and an LLM finding's spans lack the negation cue the track includes (strict scores only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from realm.bench.bc8.data import Finding, Observation
from realm.bench.bc8.expansion import train_lexicon_extractor
from realm.extract.lexicon_extractor import LexiconExtractor
from realm.kg.graph import KnowledgeGraph
from realm.records import Assertion, Mention

__all__ = ["LLMPredictor", "EnsemblePredictor", "llm_builders", "link_mentions"]

Resolver = Callable[[str], str]


def link_mentions(mentions: Sequence[Mention], text: str, linker: LexiconExtractor) -> tuple[list[Finding], int]:
    """BC8 findings of LLM ``mentions`` of ``text``: the phenotype ids the trained lexicon finds
    inside each mention's spans; returns them and how many mentions no id was found for."""
    from realm.bench.bc8.benchmark import merge_spans

    found: dict[str, Finding] = {}
    unlinked = 0
    for mention in mentions:
        surface = " ".join(text[s:e] for s, e in mention.spans)
        ids = sorted({a.mention.node_id for a in linker.annotate(surface)
                      if a.mention.node_id is not None and a.mention.type == "phenotype"})
        if not ids:
            unlinked += 1
            continue
        negated = mention.assertion is Assertion.NEGATED
        for node in ids:
            found.setdefault(node, Finding(node, merge_spans(list(mention.spans), text), negated))
    return list(found.values()), unlinked


@dataclass
class LLMPredictor:
    """The ``llm`` system: LLM mentions linked by a lexicon trained on ``--train``."""

    extractor: Any  # LLMExtractor (or anything with its extract_many and stats)
    linker: LexiconExtractor
    unlinked: int = 0
    seconds: float = 0.0
    notes: int = 0

    def __call__(self, obs: Observation) -> list[Finding]:
        return self.predict_all([obs])[0]

    def predict_all(self, observations: Sequence[Observation]) -> list[list[Finding]]:
        """Findings of every observation, the model called once per uncached note."""
        started = time.perf_counter()
        texts = [o.text for o in observations]
        mentions = self.extractor.extract_many(texts, note_ids=[o.string_id for o in observations])
        out = []
        for text, found in zip(texts, mentions, strict=True):
            findings, unlinked = link_mentions(found, text, self.linker)
            self.unlinked += unlinked
            out.append(findings)
        self.seconds += time.perf_counter() - started
        self.notes += len(observations)
        return out

    def report(self) -> dict[str, Any]:
        """Counts for the result JSON (no text)."""
        stats = self.extractor.stats.as_dict() if hasattr(self.extractor, "stats") else {}
        return {"model_id": getattr(self.extractor, "model_id", None), **stats, "unlinked_mentions": self.unlinked,
                "notes_per_s": round(self.notes / self.seconds, 3) if self.seconds > 0 else None}


@dataclass
class EnsemblePredictor:
    """The ``ensemble`` system: ``lexicon`` findings, plus the ``llm`` ids it did not find."""

    lexicon: Callable[[Observation], list[Finding]]
    llm: LLMPredictor
    resolve: Resolver = field(default=lambda node: node)

    def __call__(self, obs: Observation) -> list[Finding]:
        return self.predict_all([obs])[0]

    def predict_all(self, observations: Sequence[Observation]) -> list[list[Finding]]:
        """Per observation, the union by (resolved) HPO id."""
        out = []
        for obs, from_llm in zip(observations, self.llm.predict_all(observations), strict=True):
            findings = list(self.lexicon(obs))
            have = {self.resolve(f.term) for f in findings}
            findings += [f for f in from_llm if self.resolve(f.term) not in have]
            out.append(findings)
        return out

    def report(self) -> dict[str, Any]:
        return self.llm.report()


def llm_builders(llm_config: str | os.PathLike, *, task: str | None = None,
                 entity_types: tuple[str, ...] | None = None,
                 extractor: Any | None = None) -> dict[str, Callable[..., Any]]:
    """The ``llm`` and ``ensemble`` builders ``(kg, train, resolve) -> predictor`` for an LLM
    config YAML, its extractor asked for ``entity_types`` in the frame of ``task`` (None: the
    config's); ``extractor`` replaces the one the config would build (tests)."""
    from realm.bench.bc8.benchmark import SYSTEMS, phenotype_lexicon, safe_resolver
    from realm.extract.llm import LLMExtractor
    from realm.extract.llm_config import load_llm_config

    shared: dict[str, Any] = {}

    def llm_extractor() -> Any:
        # one extractor for both systems: its cache and stats are shared
        if "extractor" not in shared:
            shared["extractor"] = extractor if extractor is not None else LLMExtractor.from_config(
                load_llm_config(llm_config, task=task, entity_types=entity_types))
        return shared["extractor"]

    def build_llm(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Resolver) -> LLMPredictor:
        linker, _ = train_lexicon_extractor(phenotype_lexicon(kg, variants=True), train, resolve=resolve)
        return LLMPredictor(llm_extractor(), linker)

    def build_ensemble(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Resolver) -> EnsemblePredictor:
        return EnsemblePredictor(SYSTEMS["lexicon"](kg, train, resolve), build_llm(kg, train, resolve), safe_resolver(kg))

    return {"llm": build_llm, "ensemble": build_ensemble}
