"""``realm bench bc8``: phenotype extraction + HPO normalization on BioCreative VIII Track 3.

    realm bench bc8 --train TRAIN.tsv --test TEST.tsv --out bc8.json [--kg hpo] [--systems a,b]
    realm bench bc8 --train TRAIN.tsv --dev-fraction 0.2 --seed 0 --out bc8.json
    realm bench bc8 --train TRAIN.tsv --out cv.json --cv-folds 5 [--cv-seeds 1,2] [--cv-max-folds 1]
    realm bench bc8 ... --systems lexicon,llm,ensemble --llm-config my_llm.yaml

The systems are described in :mod:`realm.bench.bc8.benchmark`; tuned values (the default
systems) live in ``configs/bench/bc8.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _items(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


def _run(args: argparse.Namespace) -> int:
    from realm.bench.bc8.benchmark import BC8BenchConfig, format_cv, format_table, run
    from realm.config import load_config

    seeds = _items(args.cv_seeds)
    cfg = load_config(BC8BenchConfig, args.config, train=args.train, out=args.out, test=args.test,
                      dev_fraction=args.dev_fraction, seed=args.seed, kg=args.kg,
                      systems=_items(args.systems), llm_config=args.llm_config, cv_folds=args.cv_folds,
                      cv_seeds=None if seeds is None else tuple(int(s) for s in seeds),
                      cv_max_folds=args.cv_max_folds)
    result = run(cfg)
    sys.stdout.write(format_cv(result) if cfg.cv_folds is not None else format_table(result))
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench bc8`` arguments to ``parser``."""
    parser.add_argument("--train", required=True, type=Path, help="Track 3 TSV the systems learn from")
    parser.add_argument("--test", type=Path, default=None, help="Track 3 TSV to score")
    parser.add_argument("--dev-fraction", type=float, default=None, help="score a seeded by-observation split of --train instead")
    parser.add_argument("--seed", type=int, default=None, help="seed of the --dev-fraction split (default 0)")
    parser.add_argument("--cv-folds", type=int, default=None, help="instead: K-fold cross-validation of --train (no test file)")
    parser.add_argument("--cv-seeds", default=None, help="comma-separated seeds of the --cv-folds partitions (default: the config's)")
    parser.add_argument("--cv-max-folds", type=int, default=None, help="score only the first N folds of each seed")
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--config", default="bench/bc8.yaml", help="settings YAML (default: configs/bench/bc8.yaml)")
    parser.add_argument("--kg", default=None, help="KG name for realm.kg.spec.load_kg (default: the config's, hpo)")
    parser.add_argument("--systems", default=None,
                        help="comma-separated systems (default: the config's); llm and ensemble need --llm-config")
    parser.add_argument("--llm-config", type=Path, default=None,
                        help="LLM config YAML (as for realm extract): adds the llm and ensemble systems")
    parser.set_defaults(func=_run)
