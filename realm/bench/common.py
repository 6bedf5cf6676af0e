"""What the model benchmarks share: score probabilities, print, save.

Models train through realm.pipeline.train (deterministic per seed). Scores are patient-level
bootstrap intervals (realm.eval.bootstrap, 1000 resamples by default).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np

from realm.cache import atomic_path
from realm.eval.bootstrap import bootstrap_ci, paired_bootstrap_diff

__all__ = ["score", "compare", "peak_rss_mb", "print_table", "write_json"]


def score(y: np.ndarray, p: np.ndarray, groups: np.ndarray, *, n_resamples: int = 1000,
          seed: int = 0) -> dict[str, dict[str, Any]]:
    """AUROC, AUPRC, min(Se, +P), Brier, each ``{"value", "ci95"}`` (subject bootstrap)."""
    full = bootstrap_ci(y, p, groups, n_resamples=n_resamples, seed=seed)
    return {name: {"value": r["value"], "ci95": r["ci95"]} for name, r in full.items()}


def compare(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, groups: np.ndarray, *,
            n_resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Paired bootstrap of A - B on every metric (value, ci95, p_value)."""
    full = paired_bootstrap_diff(y, pa, pb, groups, n_resamples=n_resamples, seed=seed)
    return {name: {k: r[k] for k in ("value", "ci95", "p_value")} for name, r in full.items()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(models: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]] | None = None) -> None:
    """One row per model: each metric with its 95% interval, plus extra columns."""
    metrics = list(next(iter(models.values())).keys()) if models else []
    lines = [f"{'model':<12}" + "".join(f"{m:>24}" for m in metrics)]
    for name, result in models.items():
        cells = [f"{result[m]['value']:.3f} [{result[m]['ci95'][0]:.3f},{result[m]['ci95'][1]:.3f}]"
                 for m in metrics]
        lines.append(f"{name:<12}" + "".join(f"{c:>24}" for c in cells))
    for name, columns in (extra or {}).items():
        lines.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in columns.items()))
    sys.stdout.write("\n".join(lines) + "\n")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=float))
