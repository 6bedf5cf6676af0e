"""``realm bench synthetic``: the options a run needs; the rest is configs/bench/synthetic.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.synthetic import SyntheticBenchConfig, run
    from realm.config import load_config

    models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else None
    cfg = load_config(SyntheticBenchConfig, args.config, out=args.out, n_stays=args.n_stays,
                      seed=args.seed, workdir=args.workdir, raw=args.raw, models=models,
                      threads=args.threads)
    run(cfg)
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm bench synthetic`` arguments."""
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--n-stays", type=int, default=None, help="stays of the synthetic hospital")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="checkpoints and predictions (default: OUT without .json)")
    parser.add_argument("--raw", type=Path, default=None,
                        help="an existing `realm data synth` folder (skips synthesis)")
    parser.add_argument("--models", default=None, help="comma-separated, from realm,timeseries,gbm,lr")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--config", default="bench/synthetic.yaml",
                        help="bench settings (a path, or a name under configs/)")
    parser.set_defaults(func=_run)
