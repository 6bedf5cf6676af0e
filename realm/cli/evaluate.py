"""``realm evaluate``: predictions -> ``metrics.json`` + a self-contained ``report.html``.

    realm evaluate --predictions runs/realm/version_0/predictions.parquet --out runs/eval \\
        --baselines runs/gbm.parquet runs/lr.parquet [--explanations DIR] \\
        [--n-resamples 1000] [--seed 0]

The first model of ``--predictions`` is the reference: its subgroups are tabulated and it
is compared, paired, with every other model. ``--explanations`` is a folder written by
:meth:`realm.eval.explain.Explanations.save` (``realm demo`` writes one).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from realm.cache import atomic_path
from realm.errors import ConfigError, DataError

__all__ = ["register", "run_evaluate", "jsonable", "summary_lines"]

log = logging.getLogger(__name__)


def jsonable(value: Any) -> Any:
    """NaN and infinities become ``null``: strict JSON has no NaN, and a reader in another
    language must not choke on the file. numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _load(predictions: Path, baselines: Sequence[Path]) -> pd.DataFrame:
    from realm.eval.predictions import read_predictions

    frames = [read_predictions(predictions), *(read_predictions(p) for p in baselines)]
    seen: dict[str, Path] = {}
    for frame, path in zip(frames, [predictions, *baselines]):
        for model in frame["model"].unique():
            if model in seen:
                raise DataError(f"model {model!r} also appears in {seen[model]}; "
                                "give each model a distinct name", path=path, field="model")
            seen[str(model)] = path
    return pd.concat(frames, ignore_index=True)


def run_evaluate(predictions: Path, out: Path, *, baselines: Sequence[Path] = (),
                 explanations: Path | None = None, n_resamples: int = 1000, seed: int = 0,
                 min_subgroup: int = 50, title: str = "realm evaluation",
                 notes: Sequence[str] = ()) -> dict[str, Any]:
    """Evaluate, write ``metrics.json`` and ``report.html`` into ``out``; return the record."""
    from realm.eval.evaluation import evaluate_predictions
    from realm.eval.explain import Explanations
    from realm.eval.report import write_report

    if n_resamples < 1:
        raise ConfigError(f"--n-resamples must be positive, got {n_resamples}")
    frame = _load(Path(predictions), [Path(b) for b in baselines])
    reference = str(frame["model"].iloc[0])
    record = evaluate_predictions(frame, reference=reference, n_resamples=n_resamples,
                                  seed=seed, min_subgroup=min_subgroup)
    record["sources"] = [str(predictions), *map(str, baselines)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(jsonable(record), indent=1, allow_nan=False), encoding="utf-8")
    ex = Explanations.load(explanations) if explanations is not None else None
    write_report(out / "report.html", record, frame, explanations=ex, title=title,
                 sources=record["sources"], notes=notes)
    log.info("wrote %s and %s", out / "metrics.json", out / "report.html")
    return record


def summary_lines(record: dict[str, Any]) -> list[str]:
    """A fixed-width table: task, model, AUROC, AUPRC, min(Se,+P) with 95 % CIs."""
    from realm.eval.report import fmt_ci

    head = f"{'task':<16} {'model':<22} {'AUROC (95% CI)':<24} {'AUPRC (95% CI)':<24} " \
           f"{'min(Se,+P) (95% CI)':<24}"
    lines = [head, "-" * len(head)]
    for task, entry in record["tasks"].items():
        if not entry["models"]:
            lines.append(f"{task:<16} {entry.get('note', 'no predictions with a label')}")
        for model, rec in entry["models"].items():
            m = rec["metrics"]
            lines.append(f"{task:<16} {model:<22} {fmt_ci(m['auroc']):<24} "
                         f"{fmt_ci(m['auprc']):<24} {fmt_ci(m['min_se_ppv']):<24}")
    return lines


def _run(args: argparse.Namespace) -> int:
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
                        help="predictions.parquet of the reference model")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--baselines", type=Path, nargs="*", default=[],
                        help="predictions files of models to compare with")
    parser.add_argument("--explanations", type=Path, default=None,
                        help="explanations folder (realm.eval.explain.Explanations.save)")
    parser.add_argument("--n-resamples", type=int, default=1000,
                        help="patient-level bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--min-subgroup", type=int, default=50,
                        help="smallest subgroup given metrics (default 50 stays)")
    parser.add_argument("--title", default="realm evaluation", help="report title")
    parser.set_defaults(func=_run)
