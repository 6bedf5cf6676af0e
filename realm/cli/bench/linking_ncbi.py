"""``realm bench linking-ncbi``: disease normalization accuracy on the NCBI disease corpus.

    realm bench linking-ncbi --data NCBIdevelopset_corpus.txt --out dev.json \\
        [--config bench/linking_ncbi.yaml] [--systems dictionary dense] [--kg default] [--tune]

Prints accuracy@1/@5 and unplaced golds per system (realm.bench.ncbi.benchmark.format_table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realm.kg.embedders import EMBEDDERS

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.ncbi.benchmark import LinkingNCBIConfig, format_table, run
    from realm.config import load_config

    cfg = load_config(LinkingNCBIConfig, args.config, data=args.data, out=args.out, kg=args.kg,
                      embedder=args.embedder, systems=tuple(args.systems) if args.systems else None,
                      tune=args.tune)
    sys.stdout.write(format_table(run(cfg)) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench linking-ncbi`` arguments."""
    from realm.bench.ncbi.benchmark import SYSTEMS

    parser.add_argument("--data", type=Path, required=True, help="PubTator file of the NCBI disease corpus")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--config", default="bench/linking_ncbi.yaml",
                        help="settings YAML (default: configs/bench/linking_ncbi.yaml)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=None,
                        help="systems to score (default: the config's)")
    parser.add_argument("--kg", default=None, help="KG spec (default: the config's, default)")
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default=None)
    parser.add_argument("--tune", action="store_true", default=None,
                        help="score the dense system over the config's grid (run on the training set)")
    parser.set_defaults(func=_run)
