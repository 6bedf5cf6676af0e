"""``realm bench bc8``: phenotype extraction + HPO normalization on BioCreative VIII Track 3.

Each system learns what it learns from ``--train`` and is scored on ``--test`` (or, with
``--dev-fraction``, on a seeded by-observation split of ``--train``, so development never
tunes on the reported part). Systems are a registry of builders:

* ``exact_dictionary``: HPO names and synonyms, no learning, no assertions;
* ``lexicon_base``: the previous default (learned surfaces + precision filter + typo
  correction + coordinations + ConText + sections), kept for comparison;
* ``lexicon_flat``: ``lexicon_base`` + bag-of-words matches, learned word substitutions,
  compound variants and the learned choice between ids of one surface;
* ``lexicon_rules``: ``lexicon_flat`` + the HPO ancestor filter of
  :mod:`realm.bench.bc8.linking` (the default before the learned decision);
* ``lexicon_loose``: ``lexicon_rules`` + loose matches (suffix-stripped words in any order,
  :mod:`realm.bench.bc8.loose`) kept unless usually wrong on ``--train``;
* ``lexicon`` (the offline default): permissive lexicon + loose candidates decided by a
  classifier learned on cross-fitted training candidates (:mod:`realm.bench.bc8.rerank`);
  with fewer than :data:`MIN_RERANK_TRAIN` training observations it is ``lexicon_loose``;
* ``lexicon_dense``: ``lexicon_rules`` + dense candidates for uncovered phrases (see
  :mod:`realm.bench.bc8.dense`; not in the default ``--systems``: its first run embeds the KG).

* ``llm`` and ``ensemble`` (with ``--llm-config YAML``): an LLM's mentions linked by the
  trained lexicon, and their union with ``lexicon`` (:mod:`realm.bench.bc8.llm`).

Settings: :class:`BC8BenchConfig`, tuned values (the default systems, the KG, the
cross-validation seeds) in ``configs/bench/bc8.yaml``. Output JSON:
``systems.<name>.{strict,norm}.{p,r,f1}`` and ``systems.<name>.negation_acc``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from realm.cache import atomic_path
from realm.errors import ConfigError, KGError
from realm.bench.bc8.data import Finding, Observation, read_bc8, split_observations
from realm.bench.bc8.rerank import CandidateGenerator
from realm.bench.bc8.scoring import score_bc8
from realm.bench.bc8.expansion import train_lexicon_extractor
from realm.extract.lexicon import Lexicon, load_abbreviations
from realm.extract.lexicon_extractor import Annotation, LexiconExtractor
from realm.bench.bc8.linking import AncestorFilter
from realm.kg.embedders import TextEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.records import Assertion

__all__ = ["SYSTEMS", "BC8BenchConfig", "run", "format_table", "format_cv", "run_bc8", "cross_validate", "kfold_observations", "findings_from_annotations",
           "load_hpo_kg", "merge_spans", "phenotype_lexicon", "safe_resolver"]

log = logging.getLogger(__name__)
Predictor = Callable[[Observation], list[Finding]]
#: system name -> builder(kg, train observations, resolver) -> predictor
Builder = Callable[[KnowledgeGraph, Sequence[Observation], Callable[[str], str]], Predictor]


def merge_spans(spans: list[tuple[int, int]], text: str) -> tuple[tuple[int, int], ...]:
    """Sort spans and join neighbours separated only by whitespace (``no`` + ``webbing``)."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and not text[out[-1][1] : start].strip():
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((s, e) for s, e in out)


def findings_from_annotations(annotations: Sequence[Annotation], text: str, types: tuple[str, ...] = ("phenotype",)) -> list[Finding]:
    """BC8 findings from extractor output: a negated finding's spans include its cue,
    as the track annotates them."""
    out = []
    for ann in annotations:
        m = ann.mention
        if m.node_id is None or m.type not in types:
            continue
        negated = m.assertion is Assertion.NEGATED
        spans = list(m.spans) + ([ann.cue] if negated and ann.cue else [])
        out.append(Finding(m.node_id, merge_spans(spans, text), negated))
    return out


def phenotype_lexicon(kg: KnowledgeGraph, *, variants: bool) -> Lexicon:
    abbreviations = load_abbreviations() if variants else None
    return Lexicon.from_nodes(kg.nodes(), types=("phenotype",), abbreviations=abbreviations)


def _exact_dictionary(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Callable[[str], str]) -> Predictor:
    extractor = LexiconExtractor(phenotype_lexicon(kg, variants=False), organ_variants=False, assertions=False)
    return lambda obs: findings_from_annotations(extractor.annotate(obs.text), obs.text)


def _lexicon_base(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Callable[[str], str]) -> Predictor:
    """The previous default, kept for comparison: learned surfaces + precision filter + typo
    correction + coordinations + ConText + sections, no KG decision."""
    extractor, _ = train_lexicon_extractor(
        phenotype_lexicon(kg, variants=True), train, resolve=resolve, bags=False, substitutions=False, compounds=False, prefer=False
    )
    return lambda obs: findings_from_annotations(extractor.annotate(obs.text), obs.text)


def _lexicon_flat(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Callable[[str], str]) -> Predictor:
    """The trained extractor as ``realm extract`` would run it: ``lexicon_base`` + bag-of-words
    matches, learned word substitutions, compound variants and the learned choice between
    ids of one surface (:func:`realm.bench.bc8.expansion.train_lexicon_extractor`)."""
    extractor, _ = train_lexicon_extractor(phenotype_lexicon(kg, variants=True), train, resolve=resolve)
    return lambda obs: findings_from_annotations(extractor.annotate(obs.text), obs.text)


def _lexicon_rules(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Callable[[str], str]) -> Predictor:
    """The rule-decided lexicon: ``lexicon_flat`` whose findings then pass the HPO ancestor filter
    (a finding is dropped when a descendant of it was found in the same observation)."""
    predict, keep = _lexicon_flat(kg, train, resolve), AncestorFilter(kg)
    return lambda obs: keep(predict(obs))


def _permissive(kg: KnowledgeGraph, resolve: Callable[[str], str], *, loose: bool = True) -> Callable[[Sequence[Observation]], CandidateGenerator]:
    """Builder of the reranker's candidates: the trained lexicon without its precision
    filter, id preference or bag filter (the classifier decides instead), plus loose matches."""
    base = phenotype_lexicon(kg, variants=True)

    def build(train: Sequence[Observation]) -> CandidateGenerator:
        extractor, _ = train_lexicon_extractor(base, train, resolve=resolve, filter_precision=None, prefer=False, bag_precision=0.0)
        return CandidateGenerator(extractor, loose=loose)

    return build


#: Fewer training observations than this leave too few candidate rows to learn a decision
#: from (four cross-fitting folds of a few hundred rows each): ``lexicon`` then decides by rule.
MIN_RERANK_TRAIN = 200


def _lexicon(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Callable[[str], str], *, loose: bool = True) -> Predictor:
    """The offline default: permissive lexicon (+ loose) candidates decided by a classifier
    learned on cross-fitted training candidates (:class:`realm.bench.bc8.rerank.Reranker`)."""
    from realm.bench.bc8.rerank import Reranker

    if len(train) < MIN_RERANK_TRAIN:
        log.info("lexicon: %d training observations, deciding by rule (lexicon_loose)", len(train))
        return _lexicon_loose(kg, train, resolve)
    reranker = Reranker.train(_permissive(kg, resolve, loose=loose), train, resolve=resolve, ancestors=AncestorFilter(kg).ancestors)
    log.info("lexicon threshold %.3f", reranker.threshold)
    return lambda obs: findings_from_annotations(reranker(obs.text), obs.text)


def _lexicon_loose(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Callable[[str], str]) -> Predictor:
    """``lexicon_rules`` + loose matches (:mod:`realm.bench.bc8.loose`) for ids no other step
    finds, less the loose (surface, id) pairs right less than half the time on ``train``."""
    from realm.bench.bc8.preference import pair_stats

    extractor, _ = train_lexicon_extractor(phenotype_lexicon(kg, variants=True), train, resolve=resolve)
    generator = CandidateGenerator(extractor, loose=True)
    stats = pair_stats(generator, train, resolve=resolve, via=("loose",))  # type: ignore[arg-type]
    generator = generator.without(stats.low_precision(0.5, 1))
    keep = AncestorFilter(kg)
    return lambda obs: keep(findings_from_annotations(generator.annotate(obs.text), obs.text))


def _dense_embedder() -> TextEmbedder:
    """The embedder of ``lexicon_dense`` (the default int8 ONNX MiniLM; tests swap in a fake)."""
    from realm.kg.embedders import get_embedder

    return get_embedder()


def _lexicon_dense(kg: KnowledgeGraph, train: Sequence[Observation], resolve: Callable[[str], str]) -> Predictor:
    """``lexicon_rules`` + dense candidates for the phrases no lexicon finding covers
    (:mod:`realm.bench.bc8.dense`): a nearest-neighbour memory of the training annotations, then
    the HPO names and synonyms. Its acceptance thresholds are learned on a by-observation
    sub-split of ``train`` (75/25, seed 1), never on what is scored; then both parts are
    rebuilt on all of ``train``."""
    from realm.bench.bc8.dense import DensePhenotyper, cached_kg_index, learn_thresholds

    safe = safe_resolver(kg)  # training files may hold ids this HPO release no longer knows
    embedder = _dense_embedder()
    index = cached_kg_index(kg, embedder)
    keep = AncestorFilter(kg)

    def covered(findings: Sequence[Finding]) -> list[tuple[int, int]]:
        return [span for f in findings for span in f.spans]

    fit, tune = split_observations(train, dev_fraction=0.25, seed=1)
    lexicon_fit = _lexicon_rules(kg, fit, resolve)
    dense_fit = DensePhenotyper.build(kg, fit, embedder, index, safe)
    base = [lexicon_fit(o) for o in tune]
    proposals = [dense_fit.propose(o.text, covered(b)) for o, b in zip(tune, base, strict=True)]
    thresholds, f1 = learn_thresholds(tune, base, proposals, dense_fit.decide, safe, post=keep)
    log.info("lexicon_dense thresholds memory=%.3f kg=%.3f (tuning-split norm F1 %.3f)", thresholds.memory, thresholds.kg, f1)

    predict_lexicon = _lexicon_rules(kg, train, resolve)
    dense = DensePhenotyper.build(kg, train, embedder, index, safe, thresholds)

    def predict(obs: Observation) -> list[Finding]:
        found = predict_lexicon(obs)
        return keep(found + dense(obs.text, covered(found)))

    return predict


#: The offline systems ``--systems`` may name (the LLM ones come from realm.bench.bc8.llm).
SYSTEMS: dict[str, Builder] = {
    "exact_dictionary": _exact_dictionary,
    "lexicon_base": _lexicon_base,
    "lexicon_flat": _lexicon_flat,
    "lexicon_rules": _lexicon_rules,
    "lexicon": _lexicon,
    "lexicon_dense": _lexicon_dense,
    "lexicon_loose": _lexicon_loose,
}


def safe_resolver(kg: KnowledgeGraph) -> Callable[[str], str]:
    """kg.resolve; ids the KG does not know stay as they are for scoring."""

    def resolve(term: str) -> str:
        try:
            return kg.resolve(term)
        except KGError:
            return term

    return resolve


#: Systems that need an LLM config (``--llm-config``): realm.bench.bc8.llm builds them.
LLM_SYSTEMS = ("llm", "ensemble")


def run_bc8(
    train: Sequence[Observation], test: Sequence[Observation], kg: KnowledgeGraph, systems: Sequence[str],
    *, extra: Mapping[str, Builder] | None = None,
) -> dict[str, object]:
    """Train each system on ``train`` and score it on ``test``; ``extra`` adds builders
    (the LLM systems). A predictor with ``predict_all`` gets every test observation at
    once (batched model calls); one with ``report`` adds its counts to the result."""
    builders = {**SYSTEMS, **(extra or {})}
    unknown = [s for s in systems if s not in builders]
    if unknown:
        needs = [s for s in unknown if s in LLM_SYSTEMS]
        hint = f"; {needs} need --llm-config YAML" if needs else ""
        raise ConfigError(f"unknown bc8 system(s) {unknown}; known: {sorted(builders)}{hint}")
    scoring_resolve = safe_resolver(kg)
    results: dict[str, object] = {}
    for name in systems:
        t0 = time.perf_counter()
        predict = builders[name](kg, train, kg.resolve)
        t1 = time.perf_counter()
        batch = getattr(predict, "predict_all", None)
        found = batch(test) if batch is not None else [predict(o) for o in test]
        predicted = [Observation(o.string_id, o.text, tuple(f)) for o, f in zip(test, found, strict=True)]
        t2 = time.perf_counter()
        scores = score_bc8(test, predicted, resolve=scoring_resolve)
        scores["train_s"], scores["predict_s"] = round(t1 - t0, 2), round(t2 - t1, 2)
        if hasattr(predict, "report"):
            scores["llm"] = predict.report()
        results[name] = scores
    return {
        "n_train_observations": len(train),
        "n_test_observations": len(test),
        "kg": {"name": kg.name, "version": kg.version},
        "systems": results,
    }


def kfold_observations(
    observations: Sequence[Observation], k: int, seed: int
) -> list[tuple[list[Observation], list[Observation]]]:
    """``k`` (train, held-out) pairs of a seeded by-observation partition in ``k`` parts."""
    if k < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {k}")
    ids = sorted({o.string_id for o in observations})
    random.Random(seed).shuffle(ids)
    part = {sid: i % k for i, sid in enumerate(ids)}
    return [([o for o in observations if part[o.string_id] != f], [o for o in observations if part[o.string_id] == f]) for f in range(k)]


def cross_validate(
    observations: Sequence[Observation], kg: KnowledgeGraph, systems: Sequence[str], *, k: int = 5, seeds: Sequence[int] = (1,),
    max_folds: int | None = None, extra: Mapping[str, Builder] | None = None,
) -> dict[str, object]:
    """Per system, the normalization F1 of every fold (``k`` folds per seed, the first
    ``max_folds`` of each) and their mean: development numbers that never touch a test file."""
    per: dict[str, list[float]] = {s: [] for s in systems}
    for seed in seeds:
        for train, held in kfold_observations(observations, k, seed)[:max_folds]:
            result = run_bc8(train, held, kg, systems, extra=extra)["systems"]
            for s in systems:
                per[s].append(result[s]["norm"]["f1"])  # type: ignore[index]
    return {s: {"folds": v, "mean": sum(v) / len(v)} for s, v in per.items()}


def load_hpo_kg(name: str) -> KnowledgeGraph:
    """The KG named ``name`` from the KG stage's registry."""
    try:
        from realm.kg.spec import load_kg
    except ImportError as exc:
        raise ConfigError(f"cannot load KG {name!r}: realm.kg.spec is not available ({exc})") from None
    return load_kg(name)


@dataclass(frozen=True)
class BC8BenchConfig:
    """What ``realm bench bc8`` runs.

    Args:
        train: Track 3 TSV the systems learn from.
        out: JSON file to write.
        test: Track 3 TSV to score (else ``dev_fraction`` of ``train``).
        dev_fraction: score a seeded by-observation split of ``train`` instead of ``test``.
        seed: seed of the ``dev_fraction`` split.
        kg: KG name for realm.kg.spec.load_kg.
        systems: systems to train and score (:data:`SYSTEMS`, and :data:`LLM_SYSTEMS` with
            ``llm_config``).
        llm_config: LLM config YAML (as for realm extract): adds the llm and ensemble systems.
        llm_task: the task the LLM prompt names (replaces the config's ICU task).
        llm_entity_types: the entity kinds the LLM is asked for and its answer schema
            enumerates (replace the config's ICU kinds: the track annotates phenotypes).
        cv_folds: instead of a test: K-fold cross-validation of ``train``.
        cv_seeds: seeds of the ``cv_folds`` partitions.
        cv_max_folds: score only the first N folds of each seed.
    """

    train: Path
    out: Path
    test: Path | None = None
    dev_fraction: float | None = None
    seed: int = 0
    kg: str = "hpo"
    systems: tuple[str, ...] = ("exact_dictionary", "lexicon_base", "lexicon_rules", "lexicon")
    llm_config: Path | None = None
    llm_task: str = "genetic syndromes from physical examination findings"
    llm_entity_types: tuple[str, ...] = ("phenotype", "finding")
    cv_folds: int | None = None
    cv_seeds: tuple[int, ...] = (1,)
    cv_max_folds: int | None = None


def format_table(result: dict) -> str:
    """Strict and normalized P/R/F1 and negation accuracy, one row per system."""
    lines = [f"{'system':<18} {'strict P':>8} {'R':>6} {'F1':>6} {'norm P':>8} {'R':>6} {'F1':>6} {'neg acc':>8}"]
    for name, s in result["systems"].items():
        st, no = s["strict"], s["norm"]
        lines.append(
            f"{name:<18} {st['p']:8.3f} {st['r']:6.3f} {st['f1']:6.3f} {no['p']:8.3f} {no['r']:6.3f} {no['f1']:6.3f} {s['negation_acc']:8.3f}"
        )
    return "\n".join(lines) + "\n"


def format_cv(result: dict) -> str:
    """Mean normalization F1 and the folds' F1, one row per system."""
    lines = []
    for name, v in result["cross_validation"].items():
        folds = " ".join(f"{f:.3f}" for f in v["folds"])
        lines.append(f"{name:<18} mean norm F1 {v['mean']:.4f}  folds {folds}")
    return "\n".join(lines) + "\n"


def _llm_extra(cfg: BC8BenchConfig) -> dict[str, Builder]:
    """The LLM systems' builders when ``llm_config`` is given."""
    if cfg.llm_config is None:
        return {}
    from realm.bench.bc8.llm import llm_builders

    return llm_builders(cfg.llm_config, task=cfg.llm_task, entity_types=cfg.llm_entity_types)


def _write(out: Path, payload: dict[str, object]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2), encoding="utf-8")


def run(cfg: BC8BenchConfig) -> dict[str, object]:
    """Score the systems on the test file (or a dev split), or cross-validate them on the
    training file; writes JSON to ``cfg.out`` and returns it."""
    train = read_bc8(cfg.train)
    systems = list(cfg.systems)
    if cfg.cv_folds is not None:
        kg = load_hpo_kg(cfg.kg)
        seeds = list(cfg.cv_seeds)
        cv = cross_validate(train, kg, systems, k=cfg.cv_folds, seeds=seeds, max_folds=cfg.cv_max_folds,
                            extra=_llm_extra(cfg))
        payload: dict[str, object] = {"cross_validation": cv, "k": cfg.cv_folds, "seeds": seeds}
        _write(Path(cfg.out), payload)
        return payload
    if cfg.test is not None:
        test = read_bc8(cfg.test)
    elif cfg.dev_fraction is not None:
        train, test = split_observations(train, dev_fraction=cfg.dev_fraction, seed=cfg.seed)
    else:
        raise ConfigError("give --test TSV, or --dev-fraction F to score a held-out split of --train")
    kg = load_hpo_kg(cfg.kg)
    result = run_bc8(train, test, kg, systems, extra=_llm_extra(cfg))
    result["command"] = {"train": str(cfg.train), "test": str(cfg.test), "dev_fraction": cfg.dev_fraction, "seed": cfg.seed}
    _write(Path(cfg.out), result)
    return result
