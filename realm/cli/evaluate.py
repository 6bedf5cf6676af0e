"""``realm evaluate``: predictions -> ``metrics.json`` + a self-contained ``report.html``.

    realm evaluate --predictions runs/realm/version_0/predictions.parquet --out runs/eval \\
        --baselines runs/gbm.parquet runs/lr.parquet [--explanations DIR] \\
        [--n-resamples 1000] [--seed 0]

The first model of ``--predictions`` is the reference (see :func:`realm.eval.run.run_evaluate`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.eval.run import run_evaluate, summary_lines

    record = run_evaluate(args.predictions, args.out, baselines=args.baselines,
                          explanations=args.explanations, n_resamples=args.n_resamples,
                          seed=args.seed, min_subgroup=args.min_subgroup, title=args.title)
    sys.stdout.write("\n".join(summary_lines(record)) + "\n")
    sys.stdout.write(f"metrics: {Path(args.out) / 'metrics.json'}\n"
                     f"report:  {Path(args.out) / 'report.html'}\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm evaluate`` arguments."""
    parser.add_argument("--predictions", type=Path, required=True,
                        help="predictions.parquet of the reference model, or a file in the "
                        "MEDS prediction schema (task: its file name, model: its folder)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--baselines", type=Path, nargs="*", default=[],
                        help="predictions files (realm's or MEDS) of models to compare with")
    parser.add_argument("--explanations", type=Path, default=None,
                        help="explanations folder (realm.eval.explain.Explanations.save)")
    parser.add_argument("--n-resamples", type=int, default=1000,
                        help="patient-level bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--min-subgroup", type=int, default=50,
                        help="smallest subgroup given metrics (default 50 stays)")
    parser.add_argument("--title", default="realm evaluation", help="report title")
    parser.set_defaults(func=_run)
