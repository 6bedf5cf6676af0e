"""``realm bench linking-ncbi``: disease normalization on the NCBI disease corpus, gold spans given.

    realm bench linking-ncbi --data NCBIdevelopset_corpus.txt --out dev.json \\
        [--config bench/linking_ncbi.yaml] [--systems dictionary dense] [--tune]

Every gold mention's text goes to each system, which returns its top ``k`` nodes of the
candidate types. Scoring is at the concept level: a prediction is right when the codes of its
concept include one of the gold ids (``D…``/``C…`` read as ``MESH:``, ``OMIM:`` as written;
a ``|`` or ``+`` composite is right when any of its ids is hit). The packaged vocabularies
carry no record of retired or replaced MeSH ids, so a gold id MeSH has since changed is not
mapped: it is counted in ``unplaced`` (gold mentions none of whose ids is a node or a code of
the KG), and such mentions count as wrong.

Systems: ``dictionary`` (exact and normalized names and synonyms only) and ``dense`` (the
linker of ``realm extract``: dictionary, then dense retrieval from the Chroma index of
``realm kg index``, re-ranked, abstaining under the cosine threshold). ``--tune`` scores the
dense system over the config's grid instead; the shipped values were chosen that way on
the training set only.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realm.bench.ncbi.pubtator import PubTatorCorpus, PubTatorMention, read_pubtator
from realm.cache import atomic_path, file_digest
from realm.errors import ConfigError, KGError
from realm.kg.embedders import DEFAULT_EMBEDDER

__all__ = ["LinkingNCBIConfig", "SYSTEMS", "run", "format_table", "gold_codes", "score"]

log = logging.getLogger(__name__)

SYSTEMS = ("dictionary", "dense")
#: prefixes of cross-references as vocabularies write them -> KG id prefixes
_PREFIX = {"MSH": "MESH"}


@dataclass(frozen=True)
class LinkingNCBIConfig:
    """What ``realm bench linking-ncbi`` runs.

    Args:
        data: PubTator file (NCBI disease corpus train, dev or test set).
        out: JSON file to write.
        kg: KG spec the systems link into.
        embedder: text embedder of the dense system (its Chroma index must exist).
        systems: systems to score (:data:`SYSTEMS`).
        types: candidate node types (empty: any type).
        k: candidates kept per mention (accuracy@k is reported up to this).
        threshold: cosine under which the dense system abstains.
        lexical_weight: lexical share of the dense re-rank.
        tune: score the dense system over the grid below instead of the systems.
        tune_types: candidate type sets tried by ``tune``.
        tune_thresholds: thresholds tried by ``tune``.
        tune_lexical_weights: lexical weights tried by ``tune``.
    """

    data: Path
    out: Path
    kg: str = "default"
    embedder: str = DEFAULT_EMBEDDER
    systems: tuple[str, ...] = SYSTEMS
    types: tuple[str, ...] = ("disease",)
    k: int = 5
    threshold: float = 0.6
    lexical_weight: float = 0.2
    tune: bool = False
    tune_types: tuple[tuple[str, ...], ...] = field(default=(("disease",), ("disease", "phenotype"), ()))
    tune_thresholds: tuple[float, ...] = (0.0, 0.5, 0.6, 0.7)
    tune_lexical_weights: tuple[float, ...] = (0.0, 0.2, 0.4)


def _curie(code: str) -> str:
    prefix, sep, local = code.partition(":")
    if not sep:  # the corpus writes MeSH ids bare: D006527, C538265
        return f"MESH:{code}"
    return f"{_PREFIX.get(prefix, prefix)}:{local}"


def _codes_of(kg: Any, node_id: str) -> frozenset[str]:
    """Every code of the concept ``node_id`` belongs to, and each member's cross-references
    (KG id prefixes): a cross-reference names the same concept in a vocabulary the KG does not
    hold as nodes (an HPO term's OMIM or MeSH id), so it places a gold id the nodes cannot."""
    members: Sequence[str] = kg.concept_codes(kg.concept_of(node_id))
    codes = {c for member in members for c in (member, *kg.node(member).xrefs)}
    return frozenset(_curie(c) for c in codes)


def gold_codes(kg: Any, mention: PubTatorMention) -> frozenset[str]:
    """The gold ids of ``mention`` as KG codes, with the current id of any the KG aliases."""
    codes = {_curie(i) for i in mention.all_ids}
    for code in list(codes):
        try:
            codes.add(kg.resolve(code))
        except KGError:
            pass  # not a node id nor an alias: it may still be another node's code
    return frozenset(codes)


class _Scorer:
    """Concept codes of predictions, memoised, and the set of every code the KG places."""

    def __init__(self, kg: Any) -> None:
        self.kg = kg
        self._codes: dict[str, frozenset[str]] = {}

    def codes(self, node_id: str) -> frozenset[str]:
        if node_id not in self._codes:
            self._codes[node_id] = _codes_of(self.kg, node_id)
        return self._codes[node_id]

    def placed(self) -> frozenset[str]:
        every = {c for node in self.kg.nodes() for c in self.codes(node.id)}
        return frozenset(every | set(self.kg.aliases))


def score(gold: Sequence[frozenset[str]], ranked: Sequence[Sequence[str]],
          codes: Callable[[str], frozenset[str]], k: int) -> list[int]:
    """Per mention, the 1-based rank of the first prediction among the first ``k`` whose
    concept ``codes`` include a gold code (0: none)."""
    return [next((r for r, node_id in enumerate(preds[:k], 1) if codes(node_id) & wanted), 0)
            for wanted, preds in zip(gold, ranked, strict=True)]


def _candidates(linker: Any, texts: list[str], types: tuple[str, ...], k: int) -> list[list[Any]]:
    """Top ``k`` candidates per text over the candidate types, best first (each distinct text
    is linked once: a corpus repeats its mentions about three times)."""
    unique = list(dict.fromkeys(texts))
    per_type = [linker.link_batch(unique, t, k=k) for t in (types or (None,))]
    # As within one type: dictionary hits before dense ones, each best first.
    merged = {text: sorted((c for group in cands for c in group), key=lambda c: (c.method == "dense", -c.score))[:k]
              for text, *cands in zip(unique, *per_type, strict=True)}
    return [merged[t] for t in texts]


def _decide(candidates: list[list[Any]], threshold: float) -> list[list[str]]:
    """Node ids per text; none where the first candidate's cosine is under ``threshold`` (the
    linker's decision step abstains there, so nothing is linked)."""
    return [[c.node_id for c in cands] if cands and cands[0].cosine >= threshold else []
            for cands in candidates]


def _summary(ranks: list[int], unplaced: int) -> dict[str, Any]:
    n = len(ranks)
    return {"acc1": round(sum(r == 1 for r in ranks) / n, 4) if n else 0.0,
            "acc5": round(sum(0 < r <= 5 for r in ranks) / n, 4) if n else 0.0,
            "unplaced": unplaced, "n": n}


def _systems(cfg: LinkingNCBIConfig, kg: Any) -> dict[str, Callable[[float], Any]]:
    """System name -> linker for a lexical weight (only the dense system reads it)."""
    from realm.bench.linking import MemoEmbedder, dense_linker, dictionary_linker
    from realm.kg.embedders import get_embedder
    from realm.kg.linker import LinkerConfig

    unknown = set(cfg.systems) - set(SYSTEMS)
    if unknown:
        raise ConfigError(f"unknown systems {sorted(unknown)}; known: {list(SYSTEMS)}")
    systems: dict[str, Callable[[float], Any]] = {}
    if "dictionary" in cfg.systems and not cfg.tune:
        systems["dictionary"] = lambda _weight: dictionary_linker(kg)
    if "dense" in cfg.systems or cfg.tune:
        embedder = MemoEmbedder(get_embedder(cfg.embedder))  # the tuning grid embeds the same texts
        systems["dense"] = lambda weight: dense_linker(kg, embedder, LinkerConfig(lexical_weight=weight))
    return systems


def _tune(dense: Callable[[float], Any], mentions: list[PubTatorMention], gold: list[frozenset[str]],
          scorer: _Scorer, cfg: LinkingNCBIConfig) -> dict[str, Any]:
    """acc@1 of the dense system over the grid; the best (ties: the higher threshold, then the
    lower weight, then the earlier type set) is what the config should ship."""
    texts = [m.text for m in mentions]
    rows = []
    for weight in cfg.tune_lexical_weights:
        linker = dense(weight)
        for types in cfg.tune_types:
            candidates = _candidates(linker, texts, types, 1)
            for threshold in cfg.tune_thresholds:
                ranks = score(gold, _decide(candidates, threshold), scorer.codes, 1)
                rows.append({"lexical_weight": weight, "types": list(types), "threshold": threshold,
                             "acc1": round(sum(r == 1 for r in ranks) / len(ranks), 4)})
                log.info("tune %s", rows[-1])
    order = {tuple(t): i for i, t in enumerate(cfg.tune_types)}
    best = max(rows, key=lambda r: (r["acc1"], r["threshold"], -r["lexical_weight"], -order[tuple(r["types"])]))
    return {"grid": rows, "best": best}


def _data(cfg: LinkingNCBIConfig, corpus: PubTatorCorpus) -> dict[str, Any]:
    return {"file": str(cfg.data), "sha256": file_digest(cfg.data), "documents": len(corpus.documents),
            "mentions": corpus.mentions, "duplicate_documents_skipped": list(corpus.duplicates),
            "trimmed_mention_lines": list(corpus.trimmed)}


def run(cfg: LinkingNCBIConfig) -> dict[str, Any]:
    """Run the benchmark; writes JSON to ``cfg.out`` and returns it."""
    from realm.kg.spec import load_kg

    if cfg.k < 1:
        raise ConfigError(f"k must be >= 1, got {cfg.k}")
    corpus = read_pubtator(cfg.data)
    kg = load_kg(cfg.kg, progress=False)
    systems = _systems(cfg, kg)
    scorer = _Scorer(kg)
    mentions = [m for doc in corpus.documents for m in doc.mentions]
    gold = [gold_codes(kg, m) for m in mentions]
    placed = scorer.placed()
    unplaced = [not (codes & placed) for codes in gold]
    result: dict[str, Any] = {
        "kg": {"spec": cfg.kg, "name": kg.name, "version": kg.version, "nodes": len(kg),
               "concepts": hasattr(kg, "concept_of")},
        "data": _data(cfg, corpus),
        "settings": {"types": list(cfg.types), "k": cfg.k, "threshold": cfg.threshold,
                     "lexical_weight": cfg.lexical_weight},
        "replaced_mesh_ids": "no packaged vocabulary records retired or replaced MeSH ids; "
                             "gold ids MeSH has changed are counted in unplaced",
    }
    if cfg.tune:
        result["tuning"] = _tune(systems["dense"], mentions, gold, scorer, cfg)
    else:
        result["systems"], result["by_type"] = {}, defaultdict(dict)
        texts = [m.text for m in mentions]
        for name, system in systems.items():
            ranked = _decide(_candidates(system(cfg.lexical_weight), texts, cfg.types, cfg.k), cfg.threshold)
            ranks = score(gold, ranked, scorer.codes, cfg.k)
            result["systems"][name] = _summary(ranks, sum(unplaced))
            groups: dict[str, list[int]] = defaultdict(list)
            for m, r in zip(mentions, ranks, strict=True):
                groups[m.type].append(r)
            for type_, rs in sorted(groups.items()):
                lost = sum(u for m, u in zip(mentions, unplaced, strict=True) if m.type == type_)
                result["by_type"][type_][name] = _summary(rs, lost)
        result["by_type"] = dict(result["by_type"])
    with atomic_path(cfg.out) as tmp_out:
        tmp_out.write_text(json.dumps(result, indent=2))
    return result


def format_table(result: dict[str, Any]) -> str:
    """The systems' accuracies (or the tuning's best setting) as text."""
    data = result["data"]
    head = f"{data['file']}: {data['documents']} documents, {data['mentions']} mentions"
    if "tuning" in result:
        return f"{head}\nbest on this data (dense, acc@1): {result['tuning']['best']}"
    lines = [head, f"{'system':<12} {'acc@1':>7} {'acc@5':>7} {'unplaced':>9} {'n':>6}"]
    lines += [f"{name:<12} {s['acc1']:>7.3f} {s['acc5']:>7.3f} {s['unplaced']:>9} {s['n']:>6}"
              for name, s in result["systems"].items()]
    for type_, systems in result["by_type"].items():
        lines += [f"  {type_:<18} " + "  ".join(f"{n} {s['acc1']:.3f}/{s['acc5']:.3f} (n={s['n']})"
                                               for n, s in systems.items())]
    return "\n".join(lines)
