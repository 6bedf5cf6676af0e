"""Dense-retrieval candidates for BioCreative VIII phrases the lexicon misses.

The lexicon extractor (:mod:`realm.extract`) finds what the dictionary and the training
surfaces spell out; exam notes also paraphrase ("Unable to elicit reflexes", "Excess nuchal
skin"). :class:`DensePhenotyper` looks at every clause of an observation that no lexicon
finding covers and proposes an HPO id from two sources:

- a *memory* of the training annotations (the text of each annotated span, with and without
  its organ header, -> its HPO id), embedded once: nearest neighbour, as BioCreative VIII
  teams used their training data;
- the KG's names and synonyms in a :class:`~realm.kg.index.NumpyIndex` via the
  :class:`~realm.kg.linker.Linker` (exact cosine in memory; vectors cached per KG version by
  :func:`cached_kg_index`, because embedding ~40k HPO strings takes minutes on a busy CPU).

A clause's candidate is accepted when its score clears a threshold learned on a sub-split of
the training observations only (:func:`learn_threshold`). Assertions come from ConText, and a
clause opened by a normal-finding word ("Normal palate") is the negated abnormality.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from realm.cache import atomic_dir, config_hash, stage_dir
from realm.errors import ConfigError, KGError
from realm.bench.bc8.data import Finding, Observation
from realm.extract.context import ConText
from realm.extract.sections import SectionDetector
from realm.kg.embedders import TextEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.kg.index import META_EMBEDDER, META_KG, META_VERSION, NumpyIndex, build_index, index_entries
from realm.kg.linker import Linker, LinkerConfig
from realm.records import Assertion

__all__ = [
    "cached_kg_index",
    "Phrase",
    "Proposal",
    "DenseThresholds",
    "AnnotationMemory",
    "DensePhenotyper",
    "candidate_phrases",
    "learn_thresholds",
]

log = logging.getLogger(__name__)

_INDEX_RECIPE = 1  # bump when what is indexed changes, so old vector files are never read


def cached_kg_index(
    kg: KnowledgeGraph, embedder: TextEmbedder, *, cache: bool = True, progress: bool = False
) -> NumpyIndex:
    """A complete :class:`NumpyIndex` of ``kg``'s names and synonyms, its vectors read from the
    realm cache when this KG version and embedder were embedded before."""
    entries = index_entries(kg, embedder.model_id)
    folder = stage_dir("bc8_dense_index", config_hash(kg.version, embedder.model_id, _INDEX_RECIPE))
    index = NumpyIndex()
    if cache and (folder / "vectors.npy").is_file():
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        vectors = np.load(folder / "vectors.npy")
        # the key holds the version; the id check guards a truncated or foreign file
        if meta.get("ids") != [e.id for e in entries] or len(vectors) != len(entries):
            raise KGError(f"{folder}: cached vectors do not match KG {kg.name} version {kg.version}")
        index.add([e.id for e in entries], vectors, [e.metadata() for e in entries])
        index.set_meta({META_VERSION: kg.version, META_EMBEDDER: embedder.model_id, META_KG: kg.name})
        return index
    start = time.perf_counter()
    build_index(kg, embedder, index, progress=progress)
    log.info("embedded %d strings of %s in %.1fs", len(entries), kg.name, time.perf_counter() - start)
    if cache:
        vectors, _ = index.get([e.id for e in entries])
        with atomic_dir(folder) as tmp:
            np.save(tmp / "vectors.npy", vectors)
            (tmp / "meta.json").write_text(
                json.dumps({"kg_version": kg.version, "embedder": embedder.model_id, "ids": [e.id for e in entries]}),
                encoding="utf-8",
            )
    return index


# Phrase boundaries inside a section body: list punctuation (not a decimal point) and the
# conjunctions exam notes chain findings with ("low set and posteriorly rotated").
_BOUNDARY = re.compile(r"[,;]|\.(?!\d)|\b(?:and|with|but)\b", re.IGNORECASE)
_LETTERS = re.compile(r"[A-Za-z]{3,}")
# Exam notes state a normal finding as "Palate intact", "Speech normal", "symmetric grimace":
# BC8 codes those as the negated abnormality, and ConText has no trigger after the word.
_NORMAL = re.compile(
    r"\b(?:normal(?:ly)?|intact|unremarkable|symmetric(?:al)?|age[- ]appropriate|appropriate|good)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Phrase:
    """One candidate phrase: its span in the observation and its section header's text."""

    span: tuple[int, int]
    text: str
    header: str | None
    negated: bool = False  # ConText or a normal-finding word says it is absent/normal


def candidate_phrases(
    text: str, covered: Sequence[tuple[int, int]], sections: SectionDetector
) -> list[Phrase]:
    """Phrases of ``text`` (section bodies split at list punctuation and conjunctions) that
    overlap no ``covered`` span and hold a word of three letters or more."""
    out: list[Phrase] = []
    for section in sections.sections(text):
        header = text[section.header[0] : section.header[1]] if section.header else None
        start, end = section.body
        cuts = [start, *(p for m in _BOUNDARY.finditer(text, start, end) for p in (m.start(), m.end())), end]
        for lo, hi in zip(cuts[::2], cuts[1::2]):
            raw = text[lo:hi]
            s, e = lo + len(raw) - len(raw.lstrip()), hi - (len(raw) - len(raw.rstrip()))
            if e <= s or not _LETTERS.search(text, s, e):
                continue
            if any(cs < e and s < ce for cs, ce in covered):
                continue
            out.append(Phrase((s, e), text[s:e], header))
    return out


def _queries(phrase: Phrase) -> list[str]:
    """The phrase alone, then read under its header ("EARS: protuberant" -> "EARS protuberant"),
    as the training annotations spell organ-scoped findings."""
    return [phrase.text] + ([f"{phrase.header} {phrase.text}"] if phrase.header else [])


@dataclass(frozen=True)
class Proposal:
    """The best id for a phrase from one source (``memory`` or ``kg``) and its score."""

    node_id: str
    score: float
    negated: bool | None = None  # what the training annotations said, for memory hits


class AnnotationMemory:
    """Nearest neighbour over the training annotations: surface text -> (HPO id, negated).

    A surface is the annotated spans' text, with and without the organ header span; one
    surface annotated with several ids keeps the most frequent (ties: the smallest id).
    """

    def __init__(
        self, train: Sequence[Observation], embedder: TextEmbedder, resolve: Callable[[str], str]
    ) -> None:
        votes: dict[str, dict[tuple[str, bool], int]] = {}
        for obs in train:
            headers = [s.header for s in SectionDetector.default().sections(obs.text) if s.header]
            for f in obs.findings:
                body = [sp for sp in f.spans if sp not in headers]
                for spans in {tuple(f.spans), tuple(body)}:
                    surface = " ".join(obs.text[a:b] for a, b in spans).strip()
                    if surface:
                        key = (resolve(f.term), f.negated)
                        bucket = votes.setdefault(surface, {})
                        bucket[key] = bucket.get(key, 0) + 1
        self.surfaces = sorted(votes)
        self.labels = [min(votes[s], key=lambda k: (-votes[s][k], k)) for s in self.surfaces]
        self.embedder = embedder
        self.vectors = embedder.embed(self.surfaces) if self.surfaces else np.zeros((0, embedder.dim), np.float32)

    def nearest(self, queries: Sequence[str]) -> list[Proposal | None]:
        """The label of each query's most similar surface, scored by cosine."""
        if not queries or not self.surfaces:
            return [None] * len(queries)
        sims = self.embedder.embed(list(queries)) @ self.vectors.T  # (Q, S)
        best = sims.argmax(axis=1)
        return [Proposal(self.labels[j][0], float(sims[i, j]), self.labels[j][1]) for i, j in enumerate(best)]


@dataclass(frozen=True)
class DenseThresholds:
    """Acceptance scores: memory cosine, and KG linker score (above 1.0 = source off)."""

    memory: float = 0.85
    kg: float = 1.01


class DensePhenotyper:
    """Proposes findings for phrases no lexicon finding covers (see the module docstring)."""

    def __init__(
        self,
        memory: AnnotationMemory,
        linker: Linker,
        *,
        context: ConText | None = None,
        sections: SectionDetector | None = None,
        thresholds: DenseThresholds | None = None,
    ) -> None:
        self.memory, self.linker = memory, linker
        self.context = context or ConText.default()
        self.sections = sections or SectionDetector.default()
        self.thresholds = thresholds or DenseThresholds()

    @classmethod
    def build(
        cls,
        kg: KnowledgeGraph,
        train: Sequence[Observation],
        embedder: TextEmbedder,
        index: NumpyIndex,
        resolve: Callable[[str], str],
        thresholds: DenseThresholds | None = None,
    ) -> DensePhenotyper:
        """Memory from ``train``; a dense linker over ``index`` (its own threshold off: ours decides)."""
        linker = Linker(kg, embedder, index, LinkerConfig(threshold=-1.0))
        return cls(AnnotationMemory(train, embedder, resolve), linker, thresholds=thresholds)

    def propose(
        self, text: str, covered: Sequence[tuple[int, int]]
    ) -> list[tuple[Phrase, Proposal | None, Proposal | None]]:
        """(phrase, memory proposal, KG proposal) for every uncovered phrase of ``text``."""
        phrases = candidate_phrases(text, covered, self.sections)
        # assertions once per phrase here, so that decide() (run per threshold pair) is cheap
        hits = self.context.assert_spans(text, [p.span for p in phrases])
        phrases = [
            dataclasses.replace(
                p, negated=(h is not None and h.assertion is Assertion.NEGATED) or bool(_NORMAL.search(p.text))
            )
            for p, h in zip(phrases, hits, strict=True)
        ]
        queries = [q for p in phrases for q in _queries(p)]
        mem = self.memory.nearest(queries)
        kg_hits = self.linker.link_batch(queries, "phenotype", k=1) if queries else []
        out, i = [], 0
        for phrase in phrases:
            n = len(_queries(phrase))
            best_mem = max((m for m in mem[i : i + n] if m), key=lambda m: m.score, default=None)
            kg_props = [Proposal(c[0].node_id, c[0].score) for c in kg_hits[i : i + n] if c]
            best_kg = max(kg_props, key=lambda m: m.score, default=None)
            out.append((phrase, best_mem, best_kg))
            i += n
        return out

    def decide(
        self,
        proposals: Sequence[tuple[Phrase, Proposal | None, Proposal | None]],
        thresholds: DenseThresholds | None = None,
    ) -> list[Finding]:
        """Accepted proposals as findings: memory first (it learned this data's conventions),
        then the KG; assertion from ConText or a normal-finding word."""
        t = thresholds or self.thresholds
        chosen: list[tuple[Phrase, Proposal]] = []
        for phrase, mem, kg in proposals:
            if mem is not None and mem.score >= t.memory:
                chosen.append((phrase, mem))
            elif kg is not None and kg.score >= t.kg:
                chosen.append((phrase, kg))
        # a phrasing annotated negated in training stays negated (memory hits)
        return [Finding(prop.node_id, (phrase.span,), phrase.negated or bool(prop.negated)) for phrase, prop in chosen]

    def __call__(self, text: str, covered: Sequence[tuple[int, int]]) -> list[Finding]:
        """Findings for the phrases of ``text`` outside ``covered``."""
        return self.decide(self.propose(text, covered))


def _norm_f1(gold: Sequence[Observation], predicted: Sequence[Sequence[Finding]], resolve: Callable[[str], str]) -> float:
    tp = n_pred = n_gold = 0
    for obs, found in zip(gold, predicted, strict=True):
        g = {resolve(f.term) for f in obs.findings}
        p = {resolve(f.term) for f in found}
        tp, n_pred, n_gold = tp + len(g & p), n_pred + len(p), n_gold + len(g)
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0


def learn_thresholds(
    tune: Sequence[Observation],
    base: Sequence[Sequence[Finding]],
    proposals: Sequence[Sequence[tuple[Phrase, Proposal | None, Proposal | None]]],
    decide: Callable[..., list[Finding]],
    resolve: Callable[[str], str],
    post: Callable[[list[Finding]], list[Finding]] = list,
    grid: Sequence[float] = tuple(round(0.5 + 0.025 * i, 3) for i in range(21)) + (1.01,),
) -> tuple[DenseThresholds, float]:
    """The (memory, KG) thresholds maximising normalisation F1 of ``base`` + accepted proposals
    (after ``post``) on ``tune``; ties go to the higher (more precise) thresholds."""
    if not grid:
        raise ConfigError("learn_thresholds needs a non-empty threshold grid")

    def f1(t: DenseThresholds) -> float:
        predicted = [post(list(b) + decide(p, t)) for b, p in zip(base, proposals, strict=True)]
        return _norm_f1(tune, predicted, resolve)

    # (F1, memory, KG) compared as a tuple: ties go to the higher thresholds
    score, tm, tk = max((f1(DenseThresholds(tm, tk)), tm, tk) for tm in grid for tk in grid)
    return DenseThresholds(tm, tk), score
