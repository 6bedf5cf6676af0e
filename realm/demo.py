"""``realm demo``: the whole pipeline on the built-in synthetic hospital, in one command.

    realm demo [--n-stays 1000] [--out runs/demo] [--seed 0] [--max-epochs 8]

Steps: synthesize the hospital (MIMIC-III layout) -> prepare the cohort -> build or reuse
the KG -> extract and link entities from the notes (lexicon extractor; its mentions carry
their KG node from the exact dictionary match, so no vector index is needed) -> train REALM
and the baselines (GRU on the time series, GBM, LR) -> evaluate with patient-level
bootstrap CIs -> ``report.html``. Prints a summary table with the oracle AUROC (the
synthetic true risk) and where the report is.

Every step's result is cached under ``$REALM_CACHE`` by a hash of its inputs' content,
its configuration and the code that computes it, so a second run only evaluates.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from realm.cache import atomic_dir, config_hash, inputs_digest, stage_dir
from realm.data.cohort import TASKS
from realm.errors import ConfigError

__all__ = ["DemoConfig", "run_demo", "register", "cached_hospital", "cached_mentions"]

log = logging.getLogger(__name__)

_PACKAGE = Path(__file__).resolve().parent
LINKING_NOTE = ("Entities: lexicon extractor over the KG's names and synonyms; each mention is "
                "linked by the exact dictionary match (no vector index), plus lab/vital findings.")


@dataclass(frozen=True)
class DemoConfig:
    """What ``realm demo`` runs (each field is a command-line option)."""

    n_stays: int = 1000
    out: Path = Path("runs/demo")
    seed: int = 0
    max_epochs: int = 8
    kg: str = "default"
    embedder: str = "onnx"
    n_resamples: int = 1000
    explain_top: int = 4
    explain_random: int = 3
    progress: bool = True

    def check(self) -> None:
        if self.n_stays < 20:
            raise ConfigError(f"--n-stays must be at least 20 (train/val/test), got {self.n_stays}")
        if self.max_epochs < 1 or self.n_resamples < 1:
            raise ConfigError("--max-epochs and --n-resamples must be positive")


def _code(*parts: str) -> str:
    """Digest of the code behind a step: changed code must not reuse a cached result."""
    return inputs_digest([_PACKAGE / p for p in parts])


class _Steps:
    """A step-level progress bar (the long steps show their own bars beneath it)."""

    def __init__(self, names: list[str], enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=len(names), desc="realm demo", unit="step", disable=not enabled,
                        position=0, leave=True)
        self.started = time.perf_counter()

    def start(self, name: str) -> None:
        self.bar.set_postfix_str(name)
        log.info("demo: %s", name)

    def done(self) -> None:
        self.bar.update(1)

    def close(self) -> float:
        self.bar.close()
        return time.perf_counter() - self.started


def cached_hospital(n_stays: int, seed: int) -> Path:
    """The synthetic hospital of ``n_stays`` stays and ``seed``, written once into the cache."""
    from realm.data.synth import write_synthetic_hospital

    # Only the synthetic hospital's own code and resource files: an edit to another resource
    # (a harmonizer table) must not re-synthesize it.
    synth = sorted(str(p.relative_to(_PACKAGE)) for p in _PACKAGE.glob("data/synth*.py"))
    synth += sorted(str(p.relative_to(_PACKAGE)) for p in _PACKAGE.glob("resources/synth_*"))
    key = config_hash("synth", n_stays, seed, _code(*synth))
    folder = stage_dir("demo_hospital", key)
    if not (folder / "TRUE_RISK.csv").is_file():
        write_synthetic_hospital(folder, n_stays=n_stays, seed=seed)
    return folder


def cached_mentions(cohort_dir: Path, cohort_key: str, kg: str, kg_version: str,
                    progress: bool) -> Path:
    """``mentions.parquet`` of the cohort (lexicon + dictionary links + findings), extracted
    once per (cohort, KG version, extraction code) into the cache."""
    from realm.pipeline.extract import ExtractConfig, extract_mentions

    # The extractor's rule tables (realm/resources) are inputs too: a new abbreviation row
    # must re-extract. The whole folder, so a table added later cannot be forgotten here.
    key = config_hash("lexicon", cohort_key, kg_version,
                      _code("extract", "pipeline/extract.py", "kg/linker.py", "kg/findings_table.py",
                            "harmonize", "resources"))
    folder = stage_dir("demo_mentions", key)
    if not (folder / "mentions.parquet").is_file():
        with atomic_dir(folder) as tmp:
            extract_mentions(cohort_dir, kg, ExtractConfig(extractor="lexicon", linker="dictionary",
                                                           progress=progress), out=tmp)
    return folder / "mentions.parquet"


def _trained(cfg: DemoConfig, spec: Any, cohort_dir: Path, cohort_key: str, mentions: Path | None,
             kg: Any, explain: bool) -> tuple[Any, Any]:
    """Predictions (and explanations) of one neural model, from the cache when possible."""
    import pandas as pd

    from realm.demo_models import train_neural
    from realm.eval.explain import Explanations

    key = config_hash("neural", asdict(spec), cohort_key,
                      None if mentions is None else inputs_digest([mentions]),
                      cfg.max_epochs, cfg.seed, (cfg.explain_top, cfg.explain_random) if explain else None,
                      _code("models", "features", "data/datamodule.py", "data/dataset.py", "data/discretize.py",
                            "eval/explain.py", "eval/predictions.py", "demo_models.py"))
    folder = stage_dir("demo_models", key)
    if not (folder / "predictions.parquet").is_file():
        with atomic_dir(folder) as tmp:
            preds, ex = train_neural(spec, cohort_dir, list(TASKS), mentions=mentions,
                                     out=cfg.out / "training", max_epochs=cfg.max_epochs,
                                     seed=cfg.seed, progress=cfg.progress, kg=kg,
                                     explain=(cfg.explain_top, cfg.explain_random) if explain else None)
            preds.to_parquet(tmp / "predictions.parquet", index=False)
            if ex is not None:
                ex.save(tmp / "explanations")
    ex_dir = folder / "explanations"
    return (pd.read_parquet(folder / "predictions.parquet"),
            Explanations.load(ex_dir) if ex_dir.is_dir() else None)


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every step; returns the evaluation record (also written as metrics.json)."""
    from realm.data.prepare import prepare_cohort
    from realm.demo_models import ORACLE_NAME, NeuralSpec, oracle_predictions, tabular_predictions
    from realm.eval.run import run_evaluate
    from realm.eval.predictions import write_predictions
    from realm.kg.spec import load_kg

    cfg.check()
    steps = _Steps(["hospital", "cohort", "KG", "entities", "REALM", "GRU", "GBM/LR",
                    "evaluate"], cfg.progress)
    steps.start(f"synthetic hospital ({cfg.n_stays} stays)")
    raw = cached_hospital(cfg.n_stays, cfg.seed)
    steps.done()
    steps.start("cohort")
    cohort, cohort_dir = prepare_cohort("synthetic", raw, progress=cfg.progress)
    cohort_key = str(cohort.meta["cache_key"])
    steps.done()
    steps.start(f"knowledge graph {cfg.kg!r}")
    kg = load_kg(cfg.kg, progress=cfg.progress)
    steps.done()
    steps.start("entity extraction and linking")
    mentions = cached_mentions(cohort_dir, cohort_key, cfg.kg, kg.version, cfg.progress)
    steps.done()
    specs = [NeuralSpec("REALM", entities=True, kg=cfg.kg, embedder=cfg.embedder),
             NeuralSpec("GRU", entities=False)]
    frames, explanations = [], None
    for spec in specs:
        steps.start(f"training {spec.name}")
        preds, ex = _trained(cfg, spec, cohort_dir, cohort_key,
                             mentions if spec.entities else None, kg, explain=spec.entities)
        frames.append(preds)
        explanations = explanations if ex is None else ex
        steps.done()
    steps.start("GBM and LR baselines")
    frames += tabular_predictions(cohort_dir, list(TASKS), cfg.seed)
    frames.append(oracle_predictions(cohort_dir, list(TASKS)))
    steps.done()

    steps.start("evaluation and report")
    out = Path(cfg.out)
    files = [write_predictions(f, out / "predictions" / f"{f['model'].iloc[0].split()[0]}.parquet")
             for f in frames]
    ex_dir = None
    if explanations is not None:
        ex_dir = explanations.save(out / "explanations")
    record = run_evaluate(files[0], out, baselines=files[1:], explanations=ex_dir,
                          n_resamples=cfg.n_resamples, seed=cfg.seed,
                          title=f"realm demo: synthetic hospital, {cfg.n_stays} stays",
                          notes=[LINKING_NOTE, f"KG {kg.name} version {kg.version}; "
                                 f"{ORACLE_NAME} is the simulator's risk, the ceiling of any model."])
    steps.done()
    record["wall_seconds"] = steps.close()
    (out / "demo.json").write_text(json.dumps({"config": {k: str(v) for k, v in asdict(cfg).items()},
                                               "wall_seconds": record["wall_seconds"]}, indent=1))
    return record


def _run(args: argparse.Namespace) -> int:
    from realm.eval.run import summary_lines

    cfg = DemoConfig(n_stays=args.n_stays, out=args.out, seed=args.seed,
                     max_epochs=args.max_epochs, kg=args.kg, embedder=args.embedder,
                     n_resamples=args.n_resamples, progress=not args.no_progress)
    record = run_demo(cfg)
    sys.stdout.write("\n" + "\n".join(summary_lines(record)) + "\n")
    sys.stdout.write(f"\n{LINKING_NOTE}\nFinished in {record['wall_seconds']:.0f} s.\n"
                     f"Report: {(Path(cfg.out) / 'report.html').resolve()}\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm demo`` arguments."""
    d = DemoConfig()
    parser.add_argument("--n-stays", type=int, default=d.n_stays, help="ICU stays to synthesize")
    parser.add_argument("--out", type=Path, default=d.out, help="output folder")
    parser.add_argument("--seed", type=int, default=d.seed, help="one seed for every step")
    parser.add_argument("--max-epochs", type=int, default=d.max_epochs,
                        help="training epochs (early stopping on validation loss)")
    parser.add_argument("--kg", default=d.kg, help="built-in KG name or a KG spec YAML")
    parser.add_argument("--embedder", default=d.embedder,
                        help="text embedder of KG node vectors (onnx, minilm, hashing)")
    parser.add_argument("--n-resamples", type=int, default=d.n_resamples,
                        help="patient-level bootstrap resamples")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run)
