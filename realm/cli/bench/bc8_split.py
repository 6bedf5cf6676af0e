"""``realm bench bc8-split``: a BioCreative VIII Track 3 TSV into train/dev files by observation.

    realm bench bc8-split TSV --out-dir DIR [--dev-fraction 0.2] [--seed 0]

writes ``DIR/train.tsv`` and ``DIR/dev.tsv``: develop on these, report on data never tuned on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.bc8.split import split_file

    train, dev = split_file(args.tsv, args.out_dir, dev_fraction=args.dev_fraction, seed=args.seed)
    sys.stdout.write(f"{train}\n{dev}\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench bc8-split`` arguments."""
    parser.add_argument("tsv", type=Path, help="Track 3 TSV to split")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for train.tsv and dev.tsv")
    parser.add_argument("--dev-fraction", type=float, default=0.2, help="share of observations in dev.tsv")
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.set_defaults(func=_run)
