"""``realm bench physionet2012``: the options a run needs; the rest is
configs/bench/physionet2012.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.physionet2012 import PhysioNetBenchConfig, run
    from realm.config import load_config

    train_sets = tuple(s.strip() for s in args.train_sets.split(",") if s.strip()) if args.train_sets else None
    cfg = load_config(PhysioNetBenchConfig, args.config, data=args.data, out=args.out,
                      train_sets=train_sets, test_set=args.test_set, workdir=args.workdir,
                      seed=args.seed, threads=args.threads)
    run(cfg)
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm bench physionet2012`` arguments."""
    parser.add_argument("--data", type=Path, required=True, help="folder with set-X.tar.gz and Outcomes-X.txt")
    parser.add_argument("--train-sets", default=None, help="comma-separated train sets (config: a,b)")
    parser.add_argument("--test-set", default=None, help="the set scored once (config: c)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="cohort, checkpoints and predictions (default: OUT without .json)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads and GBM threads")
    parser.add_argument("--config", default="bench/physionet2012.yaml",
                        help="bench settings (a path, or a name under configs/)")
    parser.set_defaults(func=_run)
