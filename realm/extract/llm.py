"""The LLM extractor: chunk -> prompt -> answer (cached) -> ground -> assert -> mentions.

Unlike REALM's successor code, which kept an entity only if its string occurred in the note
and ignored negation, this extractor

- grounds every entity back into the original note (exact, case/whitespace-insensitive,
  then fuzzy within its chunk) and counts what cannot be grounded as a hallucination;
- keeps the model's assertion (negated, historical, family, hypothetical), and asks
  ConText (realm.extract.context) when the model gives none;
- chunks long notes with overlap on sentence boundaries and merges entities found twice.

The model is called through realm.llm (retries, structured output negotiated with the
endpoint); an answer out of format gets one repair turn here. A run fails loudly: a
permanent model error stops it (LLMError), and so does a share of unanswered chunks above
``max_failed_share`` (ExtractionError with the counts); :class:`LLMStats` counts everything,
including the share of chunks answered through each structured-output method. Raw answers
are cached per note (realm.llm.cache), so re-runs make no calls and an interrupted run
resumes: Ctrl-C raises :class:`~realm.errors.Interrupted` saying how many chunks are cached.
Patient text goes only to a local endpoint unless allowed (realm.llm.privacy). A local server
is probed before the first call and again when a chunk keeps failing, so a dead one stops the
run at once; an in-process model is called from one thread at a time (realm.llm.runtime).
Logs hold note counts, never note text.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from tqdm.auto import tqdm

from realm.errors import ConfigError, ExtractionError, Interrupted, LLMError
from realm.extract.base import check_mentions
from realm.extract.context import ConText
from realm.extract.grounding import Chunk, Grounding, chunk_text, ground
from realm.extract.llm_config import LLMConfig, LLMExtractorConfig, load_llm_config
from realm.extract.llm_prompt import JSON_FORMAT, PROMPT_VERSION, build_messages, repair_messages
from realm.extract.llm_schema import SCHEMA_VERSION, answer_schema, normalize_assertion, normalize_type, parse_answer
from realm.extract.sections import SectionDetector
from realm.llm.build import build_chat_model
from realm.llm.build import model_id as model_id_of
from realm.llm.cache import ResponseCache, text_digest
from realm.llm.client import ChatClient, TransientFailure
from realm.llm.privacy import check_local
from realm.llm.runtime import ensure_reachable, safe_concurrency
from realm.records import Assertion, Mention

__all__ = ["LLMExtractor", "LLMStats", "CACHE_STAGE"]

log = logging.getLogger(__name__)

#: The cache stage of the raw answers (realm.llm.cache).
CACHE_STAGE = "llm_answers"


@dataclass
class LLMStats:
    """What the extractor did, for mentions_meta.json and the log (counts only)."""

    notes: int = 0
    cache_hits: int = 0
    chunks: int = 0
    calls: int = 0
    retries: int = 0
    repairs: int = 0
    unusable_answers: int = 0  # still out of format after the repair turn
    failed_chunks: int = 0  # transient errors until retries ran out
    methods: Counter = field(default_factory=Counter)  # structured-output method -> chunks answered
    method: str | None = None  # the method the endpoint settled on (None: nothing asked)
    empty_answers: int = 0
    entities: int = 0  # as returned by the model
    hallucinations: int = 0  # could not be grounded in the note: dropped
    too_long: int = 0
    duplicates: int = 0  # same span and type found again (chunk overlap, repeated answer)
    mentions: int = 0
    grounded: Counter = field(default_factory=Counter)  # method -> count
    assertion_from_context: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["grounded"] = dict(self.grounded)
        out["methods"] = dict(self.methods)
        answered = sum(self.methods.values())
        out["method_share"] = {m: round(n / answered, 4) for m, n in self.methods.items()} if answered else {}
        return out

    def summary(self) -> str:
        """One line of counts for the console."""
        shares = ", ".join(f"{m} {n}" for m, n in self.methods.most_common())
        return (f"llm: {self.calls} calls, {self.retries} retries, {self.repairs} repairs, "
                f"{self.unusable_answers} unusable, {self.empty_answers} empty, {self.hallucinations} hallucinated "
                f"dropped, {self.failed_chunks}/{self.chunks} chunks failed, method {self.method or '-'}"
                + (f" (chunks: {shares})" if shares else ""))


@dataclass
class _Pending:
    """A note being answered: its chunks and the answers received so far."""

    text: str
    chunks: list[Chunk]
    answers: dict[int, str | None] = field(default_factory=dict)
    methods: dict[int, str] = field(default_factory=dict)
    failed: bool = False


@dataclass(frozen=True)
class CachedNote:
    """The raw answers for one note: per chunk, its span, the answer text (None: the model's
    answer stayed unusable after the repair turn) and the structured-output method used."""

    chunks: tuple[tuple[int, int], ...]
    answers: tuple[str | None, ...]
    methods: tuple[str, ...]

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> CachedNote | None:
        """The note a cache payload holds, or None for a malformed one (a miss)."""
        try:
            note = cls(tuple((int(s), int(e)) for s, e in data["chunks"]), tuple(data["answers"]),
                       tuple(str(m) for m in data["methods"]))
        except (ValueError, KeyError, TypeError):
            return None
        return note if len(note.chunks) == len(note.answers) == len(note.methods) else None

    def payload(self) -> dict[str, Any]:
        return {"chunks": [list(c) for c in self.chunks], "answers": list(self.answers), "methods": list(self.methods)}


@dataclass(frozen=True)
class ChunkAnswer:
    """The raw answer kept for a chunk (None: unusable after repair) and what it cost."""

    raw: str | None
    calls: int
    retries: int
    repaired: bool
    method: str


class LLMExtractor:
    """Mentions from a LangChain chat model; ``Mention.extractor == "llm"``."""

    name = "llm"

    def __init__(
        self,
        model: BaseChatModel,
        config: LLMExtractorConfig | None = None,
        *,
        model_id: str | None = None,
        allow_remote: bool = False,
        local_hosts: Sequence[str] = (),
        context: ConText | None = None,
        sections: SectionDetector | None = None,
        cache_root: str | os.PathLike | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or LLMExtractorConfig()
        # refuse before anything is sent: this is the last point every code path crosses
        self.endpoint = check_local(model, allow_remote=allow_remote, local_hosts=local_hosts)
        self.concurrency = safe_concurrency(model, self.endpoint, self.config.max_concurrency)
        self._reached = False  # the endpoint answered a probe this run
        self.client = ChatClient(model, schema=answer_schema(self.config.entity_types),
                                 structured=self.config.structured, format_instructions=JSON_FORMAT,
                                 retry=self.config.retry_policy(), sleep=sleep)
        chunk_text("x" * 10, self.config.chunk_chars, self.config.chunk_overlap)  # validate early
        self.model_id = model_id or model_id_of(model)
        self.context = context if context is not None else ConText.default()
        self.sections = sections if sections is not None else SectionDetector.default()
        self.cache = (
            ResponseCache(CACHE_STAGE, self.cache_settings(), cache_root) if self.config.cache else None
        )
        self.stats = LLMStats()

    @classmethod
    def from_config(cls, config: LLMConfig | str | os.PathLike, **kwargs: Any) -> LLMExtractor:
        """Build the model and the extractor from an :class:`LLMConfig` or its YAML path."""
        if not isinstance(config, LLMConfig):
            config = load_llm_config(config)
        model = build_chat_model(config.model.sized(config.extractor.answer_tokens()))
        return cls(model, config.extractor, model_id=config.model.model_id(),
                   allow_remote=config.model.allow_remote, local_hosts=config.model.local_hosts, **kwargs)

    def cache_settings(self) -> dict[str, Any]:
        """What the cached answers depend on (besides the note text)."""
        c = self.config
        return {"model": self.model_id, "prompt": PROMPT_VERSION, "schema": SCHEMA_VERSION,
                "structured": c.structured, "entity_types": list(c.entity_types), "task": c.task,
                "chunk_chars": c.chunk_chars, "chunk_overlap": c.chunk_overlap}

    # -- public API ----------------------------------------------------------------------------
    def extract(self, text: str, *, note_id: str | None = None, stay_id: int | None = None) -> list[Mention]:
        """Grounded mentions of one note in text order."""
        return self.extract_many([text], note_ids=[note_id], stay_ids=[stay_id])[0]

    def extract_many(
        self,
        texts: Sequence[str],
        *,
        note_ids: Sequence[str | None] | None = None,
        stay_ids: Sequence[int | None] | None = None,
    ) -> list[list[Mention]]:
        """Mentions of many notes, calling the model for uncached notes with bounded concurrency."""
        note_ids = list(note_ids) if note_ids is not None else [None] * len(texts)
        stay_ids = list(stay_ids) if stay_ids is not None else [None] * len(texts)
        if not len(note_ids) == len(stay_ids) == len(texts):
            raise ConfigError("texts, note_ids and stay_ids must have the same length")
        answered: dict[str, CachedNote | _Pending] = {}
        todo: dict[str, _Pending] = {}
        for text in texts:
            digest = text_digest(text)
            if digest in answered or digest in todo:
                continue
            cached = self._cached(text)
            if cached is not None:
                answered[digest] = cached
                self.stats.cache_hits += 1
            else:
                todo[digest] = _Pending(text, chunk_text(text, self.config.chunk_chars, self.config.chunk_overlap))
        log.info("LLM extraction: %d notes, %d cached, %d to send to %s", len(texts), len(answered), len(todo), self.model_id)
        failed_before, chunks_before = self.stats.failed_chunks, self.stats.chunks
        saved = sum(len(entry.chunks) for entry in answered.values())  # chunks whose answers are on disk
        try:
            with tqdm(total=len(answered) + len(todo), desc="llm extract", unit="note",
                      disable=not self.config.progress) as bar, closing(self._answer_all(todo)) as answers:
                bar.update(len(answered))
                for digest, pending in answers:
                    answered[digest] = pending
                    saved += len(pending.chunks) if self.cache is not None and not pending.failed else 0
                    bar.update(1)
        except KeyboardInterrupt as exc:
            # the cache files are written atomically as each note completes: what is on disk is whole
            raise Interrupted(f"{saved} chunks cached" if self.cache is not None else "nothing cached (cache off)") from exc
        if todo:
            self.stats.method = self.client.method
        self._check_failures(self.stats.failed_chunks - failed_before, self.stats.chunks - chunks_before)
        out = []
        for text, note_id, stay_id in zip(texts, note_ids, stay_ids, strict=True):
            self.stats.notes += 1
            entry = answered[text_digest(text)]
            if isinstance(entry, CachedNote):
                chunks, answers = [Chunk(s, e) for s, e in entry.chunks], list(entry.answers)
            else:
                chunks, answers = entry.chunks, [entry.answers.get(i) for i in range(len(entry.chunks))]
            out.append(self._mentions(text, chunks, answers, note_id, stay_id))
        return out

    def _check_failures(self, failed: int, sent: int) -> None:
        """Raise :class:`ExtractionError` (with the counts) when too many chunks went unanswered:
        a run that read nothing must not pass for a run that found nothing."""
        if failed and (failed == sent or failed / sent > self.config.max_failed_share):
            raise ExtractionError(
                f"LLM extraction: {failed} of {sent} chunks got no answer from {self.client.endpoint} "
                f"(max_failed_share {self.config.max_failed_share}); {self.stats.summary()}")

    # -- calling --------------------------------------------------------------------------------
    def _cached(self, text: str) -> CachedNote | None:
        payload = self.cache.get(text) if self.cache is not None else None
        return CachedNote.from_payload(payload) if payload is not None else None

    def _answer_all(self, todo: dict[str, _Pending]) -> Iterator[tuple[str, _Pending]]:
        """Yield (digest, pending) as each note's chunks are all answered; cache each at once.

        A thread pool with at most ``max_concurrency`` calls in flight rather than
        ``Runnable.batch``: batch submits everything up front, so an interrupted run would
        keep calling the model for every remaining note, and results arrive only at the end.
        """
        jobs = [(digest, i) for digest, p in todo.items() for i in range(len(p.chunks))]
        remaining = {digest: len(p.chunks) for digest, p in todo.items()}
        self.stats.chunks += len(jobs)
        if not jobs:
            return
        if not self._reached:
            ensure_reachable(self.endpoint)
            self._reached = True
        queue = iter(jobs)
        executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="realm-llm")
        running: dict[Future, tuple[str, int]] = {}
        try:
            for job in queue:
                running[self._submit(executor, todo, job)] = job
                if len(running) >= self.concurrency:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    digest, index = running.pop(future)
                    pending = todo[digest]
                    try:
                        answer = future.result()
                    except TransientFailure as failure:
                        # a server that died mid-run would fail every chunk the same way, each
                        # after its retries: stop at the first chunk that fails against it
                        ensure_reachable(self.endpoint)
                        pending.failed = True
                        self.stats.failed_chunks += 1
                        self.stats.calls += failure.calls
                        self.stats.retries += failure.retries
                    else:
                        pending.answers[index] = answer.raw
                        pending.methods[index] = answer.method
                        self.stats.methods[answer.method] += 1
                        self.stats.calls += answer.calls
                        self.stats.retries += answer.retries
                        self.stats.repairs += int(answer.repaired)
                        self.stats.unusable_answers += int(answer.raw is None)
                    remaining[digest] -= 1
                    if remaining[digest] == 0:
                        self._store(pending)
                        yield digest, pending
                    nxt = next(queue, None)
                    if nxt is not None:
                        running[self._submit(executor, todo, nxt)] = nxt
        finally:
            # on an error or Ctrl-C, finish nothing more than what is already in flight
            executor.shutdown(wait=True, cancel_futures=True)

    def _submit(self, executor: ThreadPoolExecutor, todo: dict[str, _Pending], job: tuple[str, int]) -> Future:
        pending = todo[job[0]]
        chunk = pending.chunks[job[1]]
        messages = build_messages(chunk.of(pending.text), task=self.config.task,
                                  entity_types=self.config.entity_types, part=(job[1], len(pending.chunks)))
        return executor.submit(self._answer, messages, self.config.answer_tokens(chunk.end - chunk.start))

    def _answer(self, messages: list[BaseMessage], budget: int) -> ChunkAnswer:
        """A usable raw answer for one chunk, or None after one failed repair turn (stored as
        such and counted, so a re-run does not pay for it again)."""
        first = self.client.invoke(messages, max_tokens=budget)
        try:
            parse_answer(first.text)
            return ChunkAnswer(first.text, first.calls, first.retries, False, first.method)
        except LLMError as problem:
            fixed = self.client.invoke(repair_messages(messages, first.text, str(problem)), max_tokens=budget)
        calls, retries = first.calls + fixed.calls, first.retries + fixed.retries
        try:
            parse_answer(fixed.text)
            return ChunkAnswer(fixed.text, calls, retries, True, fixed.method)
        except LLMError:
            return ChunkAnswer(None, calls, retries, True, fixed.method)

    def _store(self, pending: _Pending) -> None:
        if self.cache is None or pending.failed:
            return  # a note with a failed chunk is asked again next run
        answers = tuple(pending.answers.get(i) for i in range(len(pending.chunks)))
        methods = tuple(pending.methods[i] for i in range(len(pending.chunks)))
        self.cache.put(pending.text, CachedNote(tuple((c.start, c.end) for c in pending.chunks), answers,
                                                methods).payload())

    # -- answers -> mentions ------------------------------------------------------------------------
    def _mentions(
        self, text: str, chunks: list[Chunk], answers: list[str | None], note_id: str | None, stay_id: int | None
    ) -> list[Mention]:
        found: dict[tuple[int, int, str], tuple[Grounding, Assertion | None, float]] = {}
        for chunk, raw in zip(chunks, answers, strict=True):
            if raw is None:
                continue
            try:
                entities = parse_answer(raw).entities
            except LLMError:  # a cache file edited by hand; the model's answers were checked
                self.stats.unusable_answers += 1
                continue
            self.stats.empty_answers += int(not entities)
            taken: set[tuple[int, int]] = set()
            for entity in entities:
                self.stats.entities += 1
                if len(entity.text) > self.config.max_entity_chars:
                    self.stats.too_long += 1
                    continue
                where = ground(entity.text, text, chunk, fuzzy_threshold=self.config.fuzzy_threshold, taken=taken)
                if where is None:
                    self.stats.hallucinations += 1
                    continue
                taken.add((where.start, where.end))
                self.stats.grounded[where.method] += 1
                key = (where.start, where.end, normalize_type(entity.type))
                assertion = normalize_assertion(entity.assertion)
                if key in found:
                    self.stats.duplicates += 1
                    if found[key][1] is not None or assertion is None:
                        continue
                confidence = (entity.confidence if entity.confidence is not None else 1.0) * where.similarity
                found[key] = (where, assertion, confidence)
        mentions = self._build(text, found, note_id, stay_id)
        self.stats.mentions += len(mentions)
        return check_mentions(mentions, text)

    def _build(
        self,
        text: str,
        found: dict[tuple[int, int, str], tuple[Grounding, Assertion | None, float]],
        note_id: str | None,
        stay_id: int | None,
    ) -> list[Mention]:
        keys = sorted(found)
        unasserted = [k for k in keys if found[k][1] is None]
        hits = dict(zip(unasserted, self.context.assert_spans(text, [(k[0], k[1]) for k in unasserted]), strict=True))
        sections = self.sections.sections(text)
        out = []
        for key in keys:
            start, end, type_ = key
            where, assertion, confidence = found[key]
            section = next((s for s in sections if s.body[0] <= start < s.body[1]), None)
            if assertion is None:
                self.stats.assertion_from_context += 1
                hit = hits.get(key)
                assertion = hit.assertion if hit is not None else (section.assertion if section and section.assertion else Assertion.PRESENT)
            out.append(Mention(
                text=text[start:end], spans=((start, end),), type=type_, assertion=assertion,
                section=section.name if section else None, extractor=self.name,
                confidence=round(confidence, 4), note_id=note_id, stay_id=stay_id,
            ))
        return out
