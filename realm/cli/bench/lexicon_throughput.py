"""``realm bench lexicon-throughput``: lexicon extractor notes/s on synthetic ICU-style notes.

    realm bench lexicon-throughput [--notes 2000] [--seed 0] [--obo PATH] [--workers 2] [--fuzzy] [--bags] [--out F]

Prints the figures as JSON (realm.bench.lexicon_throughput).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.lexicon_throughput import LexiconThroughputConfig, run

    cfg = LexiconThroughputConfig(notes=args.notes, seed=args.seed, obo=args.obo, fuzzy=args.fuzzy,
                                  bags=args.bags, workers=args.workers, out=args.out)
    sys.stdout.write(json.dumps(run(cfg), indent=2) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench lexicon-throughput`` arguments."""
    parser.add_argument("--notes", type=int, default=2000, help="synthetic notes (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--obo", type=Path, default=None, help="HPO OBO file (default: the hpo KG)")
    parser.add_argument("--fuzzy", action="store_true", help="correct typos (realm.extract.fuzzy.Speller)")
    parser.add_argument("--bags", action="store_true", help="add bag-of-words matches (realm.extract.bag)")
    parser.add_argument("--workers", type=int, default=1, help="processes to extract with (fork)")
    parser.add_argument("--out", type=Path, default=None, help="optional JSON result file")
    parser.set_defaults(func=_run)
