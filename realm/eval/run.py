"""Evaluate predictions files: ``metrics.json`` and a self-contained ``report.html``.

The first model of ``predictions`` is the reference: its subgroups are tabulated and it is
compared, paired, with every other model. ``explanations`` is a folder written by
:meth:`realm.eval.explain.Explanations.save` (``realm demo`` writes one).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from realm.cache import atomic_path
from realm.errors import ConfigError, DataError

__all__ = ["run_evaluate", "jsonable", "summary_lines"]

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


def _read(path: Path) -> pd.DataFrame:
    """realm's predictions table, or a MEDS predictions file (told apart by its columns)."""
    from realm.eval.meds_predictions import is_meds_predictions, read_meds_predictions
    from realm.eval.predictions import read_predictions

    return read_meds_predictions(path) if is_meds_predictions(path) else read_predictions(path)


def _load(predictions: Path, baselines: Sequence[Path]) -> pd.DataFrame:
    frames = [_read(predictions), *(_read(p) for p in baselines)]
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
        raise ConfigError(f"n_resamples must be positive, got {n_resamples}")
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
