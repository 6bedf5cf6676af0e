"""The extract stage: a cohort's notes (and time series, and drug orders) -> linked ``mentions.parquet``.

The wiring of the extract stage, and the only place it meets realm.kg: it loads the KG, builds
the lexicon from its names, links LLM mentions with the KG's linker, turns the lab-finding
table into time-series findings, and, when the cohort has a ``medications`` table (MIMIC
PRESCRIPTIONS, the synthetic hospital's), harmonizes each ordered drug to KG drug nodes
(realm.harmonize, offline KG backend) as mentions of extractor ``prescriptions``, type
``drug``, at the hour the order is known (never after the window)::

    path = extract_mentions(cohort_dir, "default", ExtractConfig(linker="dictionary"))

Writes ``mentions.parquet`` (see realm.extract.mentions_table) and ``mentions_meta.json``
(KG version, extractor config, counts incl. hallucinations dropped) into the output folder;
an LLM run also writes ``mentions_llm.json`` (the LLM's counts: calls, retries, repairs,
unusable and empty answers, hallucinations dropped, chunks failed, the structured-output
method and each method's share of chunks), also when the run fails, so a failed run leaves
its counts where its mentions would be.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from realm.cache import atomic_path
from realm.errors import ConfigError
from realm.extract.ensemble import EnsembleExtractor, extract_all
from realm.extract.findings import timeseries_findings
from realm.extract.mentions_table import conform_mentions, mentions_frame, write_mentions
from realm.kg.embedders import DEFAULT_EMBEDDER
from realm.kg.findings_table import resolve_rule_nodes
from realm.kg.graph import KnowledgeGraph
from realm.records import Mention

__all__ = ["ExtractConfig", "extract_mentions", "LLM_COUNTS_FILE"]

log = logging.getLogger(__name__)

#: The LLM's counts beside the mentions (written even when the run fails).
LLM_COUNTS_FILE = "mentions_llm.json"
#: Node types the lexicon leaves out unless ``ExtractConfig.types`` names them.
OPT_IN_TYPES = ("gene",)


@dataclass(frozen=True)
class ExtractConfig:
    """How entities are extracted and linked (``realm extract`` options of the same names).

    Args:
        extractor: ``lexicon`` (the KG's names, offline), ``llm`` or their ``ensemble``.
        linker: how mentions without a node are linked: ``dense`` (dictionary + embeddings)
            or ``dictionary`` only.
        link_threshold: cosine under which the dense linker abstains (None: the linker's default).
        lexical_weight: lexical share of the dense re-rank (None: the linker's default).
        llm_config: LLM config YAML (``model:`` + ``extractor:``); needed by ``llm``/``ensemble``.
        timeseries: add lab/vital findings from the cohort's events.
        prescriptions: add drug orders from the cohort's medications table.
        lab_findings: lab-finding table (default: the KG stage's ``lab_findings.csv``).
        window_hours: prediction window; None takes the cohort's (48 h by default).
        ensemble_mode: how the ensemble combines its members (realm.extract.ensemble.MODES).
        min_votes: ``vote`` mode: members that must agree.
        min_confidence: ``confidence`` mode: the lowest confidence kept.
        types: KG node types the lexicon names (None: every type but ``gene``; gene symbols
            spell common words and ICU notes rarely name a gene, so genes are opt-in).
        relink_types: node types whose mentions the linker links even where the extractor
            already did (the lexicon then only finds their spans, as an LLM would).
        embedder: text embedder of the dense linker's index (realm.kg.embedders).
        progress: show progress bars.

    The dense linker retrieves from the KG's Chroma index under the cache (``realm kg index``),
    scoped to the node types of the mentions it links: a missing type is added to the same
    index on first use, never rebuilt.
    """

    extractor: Literal["lexicon", "llm", "ensemble"] = "lexicon"
    linker: Literal["dense", "dictionary"] = "dense"
    link_threshold: float | None = None
    lexical_weight: float | None = None
    llm_config: Path | None = None
    timeseries: bool = True
    prescriptions: bool = True
    lab_findings: Path | None = None
    window_hours: float | None = None
    ensemble_mode: Literal["union", "vote", "confidence"] = "union"
    min_votes: int = 2
    min_confidence: float = 0.5
    types: tuple[str, ...] | None = None
    relink_types: tuple[str, ...] = ()
    embedder: str = DEFAULT_EMBEDDER
    progress: bool = True


def _extractor(cfg: ExtractConfig, kg: KnowledgeGraph) -> tuple[Any, dict[str, Any]]:
    from realm.extract.lexicon import Lexicon, load_abbreviations, load_surface_variants
    from realm.extract.lexicon_extractor import LexiconExtractor
    from realm.config import config_dict
    from realm.extract.llm import LLMExtractor
    from realm.extract.llm_config import load_llm_config

    config: dict[str, Any] = {"extractor": cfg.extractor}
    members = []
    if cfg.extractor in ("lexicon", "ensemble"):
        types = cfg.types if cfg.types is not None else tuple(sorted(
            {n.type for n in kg.nodes()} - set(OPT_IN_TYPES)))
        refused: dict[str, int] = {}
        lexicon = Lexicon.from_nodes(kg.nodes(), types, abbreviations=load_abbreviations(),
                                     variants=load_surface_variants(), refused=refused)
        members.append(LexiconExtractor(lexicon))
        config.update(lexicon_terms=len(lexicon), lexicon_types=list(types), lexicon_refused=refused)
    if cfg.extractor in ("llm", "ensemble"):
        if cfg.llm_config is None:
            raise ConfigError(f"extractor {cfg.extractor!r} needs an LLM config YAML (--llm-config)")
        llm_config = load_llm_config(cfg.llm_config, progress=None if cfg.progress else False)
        llm = LLMExtractor.from_config(llm_config)
        members.append(llm)
        # the model section without kwargs: they may hold an api key
        config["llm"] = {"model_id": llm.model_id, "prompt_version": llm.cache_settings()["prompt"],
                         "schema_version": llm.cache_settings()["schema"], **config_dict(llm_config.extractor)}
    if cfg.extractor == "ensemble":
        config["ensemble"] = {"mode": cfg.ensemble_mode, "min_votes": cfg.min_votes,
                              "min_confidence": cfg.min_confidence}
        return EnsembleExtractor(members, cfg.ensemble_mode, cfg.min_votes, cfg.min_confidence), config
    return members[0], config


def _llm_member(extractor: Any) -> Any | None:
    """The LLM extractor itself or inside an ensemble (the one holding ``stats``), if any."""
    members = [extractor, *getattr(extractor, "extractors", [])]
    return next((e for e in members if getattr(e, "stats", None) is not None), None)


def _write_llm_counts(out_dir: Path, llm: Any, *, failed: bool) -> None:
    counts = {"model_id": llm.model_id, "endpoint": llm.client.endpoint, "structured": llm.config.structured,
              "run": "failed" if failed else "complete", **llm.stats.as_dict(), "summary": llm.stats.summary()}
    with atomic_path(out_dir / LLM_COUNTS_FILE) as tmp:
        tmp.write_text(json.dumps(counts, indent=2, default=str), encoding="utf-8")


def _dense_index(kg: KnowledgeGraph, cfg: ExtractConfig, types: set[str],
                 stop: threading.Event | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """The embedder and the KG's cached Chroma index covering ``types`` (extended when it does
    not), with what was used: the record ``mentions_meta.json`` keeps."""
    from realm.errors import KGError
    from realm.kg.embedders import get_embedder
    from realm.kg.index import ChromaIndex, build_index, check_index

    embedder = get_embedder(cfg.embedder)
    index = ChromaIndex.for_kg(kg.name, embedder.model_id)
    seconds, built = 0.0, False
    try:
        scope = check_index(index, kg, embedder, types)
    except KGError as exc:
        log.info("indexing node types %s of KG %s (%s)", ",".join(sorted(types)), kg.name, exc)
        report = build_index(kg, embedder, index, types=types, progress=cfg.progress, stop=stop)
        scope, seconds, built = frozenset(report.extra["types"]), report.seconds, True
    return embedder, index, {"store": "chroma", "kg": kg.name, "kg_version": kg.version,
                             "embedder": embedder.model_id, "types": sorted(scope),
                             "entries": index.count(), "built": built, "build_seconds": round(seconds, 1)}


@contextmanager
def _early_index(kg: KnowledgeGraph, cfg: ExtractConfig) -> Iterator[Future[Any] | None]:
    """The dense linker's index of ``cfg.relink_types``, made ready in a thread while the notes
    are read: its embedding runs in onnxruntime outside the GIL, so it overlaps the extractor's
    Python work (the demo: ~100 s of indexing beside ~40 s of lexicon building and matching).
    An exception in the body (Ctrl-C) stops the build after its current chunk."""
    types = set(cfg.relink_types) & {n.type for n in kg.nodes()} if cfg.linker == "dense" else set()
    if not types:
        yield None
        return
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="realm-early-index") as pool:
        future = pool.submit(_dense_index, kg, cfg, types, stop)
        try:
            yield future
        except BaseException:
            stop.set()
            raise


def _link(mentions: list[Mention], kg: KnowledgeGraph, cfg: ExtractConfig,
          early: Future[Any] | None = None) -> tuple[list[Mention], dict[str, Any]]:
    """Link the mentions that have no node yet (lexicon mentions carry theirs) and those of
    ``cfg.relink_types``; returns them with a record of the linker, its index and what changed.
    ``early``: the index :func:`_early_index` is building, used when it covers the types."""
    from realm.kg.linker import Linker, LinkerConfig

    relink = set(cfg.relink_types)
    todo = [i for i, m in enumerate(mentions) if m.node_id is None or m.type in relink]
    record: dict[str, Any] = {"linker": cfg.linker, "relink_types": sorted(relink), "linked_by_linker": len(todo)}
    if not todo:
        return mentions, record
    tuned = {"threshold": cfg.link_threshold, "lexical_weight": cfg.lexical_weight}
    config = LinkerConfig(dense=cfg.linker == "dense", **{k: v for k, v in tuned.items() if v is not None})
    embedder = index = None
    if config.dense:
        kg_types = {n.type for n in kg.nodes()}
        # a mention of a type the KG lacks is linked without a type filter: every type is searched
        types = {mentions[i].type for i in todo}
        types = types if types <= kg_types else kg_types
        ready = early.result() if early is not None else None
        embedder, index, record["index"] = ready if ready is not None and types <= set(ready[2]["types"]) \
            else _dense_index(kg, cfg, types)
    linker = Linker(kg, embedder, index, config)
    linked = linker.link_mentions([mentions[i] for i in todo])
    out = list(mentions)
    changes: Counter[str] = Counter()
    for i, m in zip(todo, linked, strict=True):
        before = mentions[i].node_id
        changes["abstained" if m.node_id is None else "new" if before is None
                else "kept" if m.node_id == before else "changed"] += 1
        out[i] = m
    record["outcome"] = dict(changes)
    return out, record


def _prescription_mentions(medications: pd.DataFrame, kg: KnowledgeGraph, window: float) -> pd.DataFrame:
    """Drug orders as mentions in the mentions-table columns (one per order and drug node)."""
    from realm.harmonize.prescriptions import prescriptions_to_mentions

    drugs = prescriptions_to_mentions(medications, kg, window_hours=window).drop(columns="hadm_id")
    # An order is a structured fact, not a reading of text: its confidence is the name match.
    drugs["confidence"] = drugs["link_score"]
    return conform_mentions(drugs)


def _with_concepts(table: pd.DataFrame, graph: KnowledgeGraph) -> pd.DataFrame:
    """``table`` with ``concept_id`` and ``codes`` of every linked row filled from ``graph``:
    the lexicon, the finding rules and the prescriptions name nodes without the linker."""
    linked = table["node_id"].notna()
    ids = table.loc[linked, "node_id"].astype(str)
    codes = {n: graph.concept_codes(n) for n in set(ids)}
    out = table.copy()
    out.loc[linked, "concept_id"] = ids.map(lambda n: codes[n][0])  # the representative comes first
    out.loc[linked, "codes"] = ids.map(lambda n: json.dumps(list(codes[n])))
    return out


def extract_mentions(cohort_dir: Path, kg: str | KnowledgeGraph, cfg: ExtractConfig,
                     out: Path | None = None) -> Path:
    """Extract and link the entities of the cohort in ``cohort_dir`` against ``kg`` (a KG
    spec: built-in name or YAML, or a loaded graph); writes ``mentions.parquet`` and
    ``mentions_meta.json`` into ``out`` (default: the cohort folder) and returns the former."""
    from realm.data.cohort import Cohort
    from realm.kg.findings_table import load_lab_findings
    from realm.kg.spec import load_kg

    tables = ("events", "notes") if cfg.timeseries else ("notes",)
    if cfg.prescriptions:
        tables += ("medications",)
    cohort = Cohort.load(cohort_dir, tables=tables)
    spec = kg.name if isinstance(kg, KnowledgeGraph) else str(kg)
    graph = kg if isinstance(kg, KnowledgeGraph) else load_kg(kg, progress=cfg.progress)
    out_dir = Path(out) if out is not None else Path(cohort_dir)
    with _early_index(graph, cfg) as early:
        extractor, config = _extractor(cfg, graph)
        notes = cohort.notes
        texts = [str(t) for t in notes["text"]]
        note_ids = [str(n) for n in notes["note_id"]]
        stay_ids = [int(s) for s in notes["stay_id"]]
        log.info("extracting from %d notes of %d stays with %s", len(texts), cohort.stays.shape[0], cfg.extractor)
        llm = _llm_member(extractor)
        failed = True
        try:
            per_note = extract_all(extractor, texts, note_ids, stay_ids)
            failed = False
        finally:
            if llm is not None:
                _write_llm_counts(out_dir, llm, failed=failed)
        mentions, linking = _link([m for ms in per_note for m in ms], graph, cfg, early)
    note_hours = dict(zip(note_ids, (float(h) for h in notes["hours"]), strict=True))
    frames = [mentions_frame(mentions, note_hours)]
    window = float(cfg.window_hours if cfg.window_hours is not None else cohort.meta.get("window_hours", 48.0))
    counts: dict[str, Any] = {"notes": len(texts), "note_mentions": len(mentions),
                              "linked": sum(m.node_id is not None for m in mentions),
                              "assertions": dict(Counter(m.assertion.value for m in mentions))}
    if cfg.timeseries:
        rules, missing = resolve_rule_nodes(load_lab_findings(cfg.lab_findings), graph)
        if missing:
            log.warning("%d lab-finding nodes are not in KG %s; their rules are skipped", len(missing), graph.name)
        findings = timeseries_findings(cohort.events, rules, window_hours=window)
        frames.append(findings)
        counts.update(timeseries_findings=len(findings), rules_without_node=missing)
    if cohort.medications is not None and cfg.prescriptions:
        drugs = _prescription_mentions(cohort.medications, graph, window)
        frames.append(drugs)
        counts.update(prescription_mentions=len(drugs), prescriptions_linked=int(drugs["node_id"].notna().sum()))
    table = _with_concepts(conform_mentions(pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)), graph)
    if llm is not None:
        counts["llm"] = llm.stats.as_dict()
        counts["hallucinations_dropped"] = llm.stats.hallucinations
    meta = {"kg": {"name": graph.name, "version": graph.version, "spec": spec}, "window_hours": window,
            "linker": cfg.linker, "linking": linking, "config": config, "counts": counts}
    return write_mentions(table, meta, out_dir)
