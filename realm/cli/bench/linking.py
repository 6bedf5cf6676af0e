"""``realm bench linking``: entity-linking accuracy on BioCreative VIII Track 3, and index speed.

    realm bench linking --data Clinical-Genetics-Physical-Exam-Data-Train.tsv --out linking.json \\
        [--kg hpo] [--seed 0] [--embedder onnx] [--fresh-build] [--default-build] \\
        [--config bench/linking.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realm.kg.embedders import EMBEDDERS

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.linking import LinkingBenchConfig, format_table, run
    from realm.config import load_config

    cfg = load_config(LinkingBenchConfig, args.config, data=args.data, out=args.out, kg=args.kg,
                      seed=args.seed, embedder=args.embedder, fresh_build=args.fresh_build,
                      default_build=args.default_build)
    sys.stdout.write(format_table(run(cfg)) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this benchmark's arguments to its ``realm bench linking`` parser."""
    parser.add_argument("--data", required=True, type=Path, help="bc8 Track 3 TSV (Train split)")
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    parser.add_argument("--config", default="bench/linking.yaml", help="settings YAML (default: configs/bench/linking.yaml)")
    parser.add_argument("--kg", default=None, help="KG spec (default: the config's, hpo)")
    parser.add_argument("--seed", type=int, default=None, help="split seed (default: the config's)")
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default=None)
    parser.add_argument("--fresh-build", action="store_true", default=None,
                        help="time a full index build in a temporary folder (else reuse `realm kg index`'s)")
    parser.add_argument("--default-build", action="store_true", default=None,
                        help="also time the default KG + index build from a clean cache (minutes)")
    parser.set_defaults(func=_run)
