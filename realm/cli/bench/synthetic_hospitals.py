"""``realm bench synthetic-hospitals``: averages over several ``realm bench synthetic`` workdirs.

    for s in 0 1 2 3 4; do realm bench synthetic --out syn_s$s.json --n-stays 3000 --seed $s; done
    realm bench synthetic-hospitals syn_s0 syn_s1 syn_s2 syn_s3 syn_s4 [--out means.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.synthetic_hospitals import SyntheticHospitalsConfig, format_table, run

    cfg = SyntheticHospitalsConfig(runs=tuple(args.runs), out=args.out, n_resamples=args.n_resamples,
                                   seed=args.seed)
    sys.stdout.write(format_table(run(cfg)) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench synthetic-hospitals`` arguments."""
    parser.add_argument("runs", nargs="+", type=Path, help="bench workdirs with predictions.parquet")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples per hospital")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    parser.set_defaults(func=_run)
