"""``realm bench meds-scale``: ``realm data prepare --source meds`` speed and peak memory on a
generated MEDS dataset (realm.bench.meds_scale).

    nice realm bench meds-scale --events 5000000 --out meds-5m.json [--keep] [--root DIR] \\
        [--config bench/meds_scale.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.meds_scale import MedsScaleConfig, format_table, run
    from realm.config import load_config

    cfg = load_config(MedsScaleConfig, args.config, events=args.events, subjects=args.subjects,
                      subjects_per_shard=args.subjects_per_shard, seed=args.seed, out=args.out, workdir=args.workdir, keep=args.keep or None,
                      root=args.root)
    sys.stdout.write(format_table(run(cfg)) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench meds-scale`` arguments."""
    parser.add_argument("--out", type=Path, default=Path("meds_scale.json"), help="JSON result")
    parser.add_argument("--config", default="bench/meds_scale.yaml",
                        help="settings YAML (default: configs/bench/meds_scale.yaml)")
    parser.add_argument("--events", type=int, default=None,
                        help="events to generate (default: the config's, 50 M)")
    parser.add_argument("--subjects", type=int, default=None, help="default: the config's (4000)")
    parser.add_argument("--subjects-per-shard", type=int, default=None,
                        help="default: the config's (500)")
    parser.add_argument("--seed", type=int, default=None, help="default: the config's (0)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to write the dataset and cohort (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated dataset")
    parser.add_argument("--root", type=Path, default=None,
                        help="measure this existing MEDS dataset (realm's export codes) instead")
    parser.set_defaults(func=_run)
