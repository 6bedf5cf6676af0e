"""Averages over several synthetic hospitals of ``realm bench synthetic``.

Usage::

    for s in 0 1 2 3 4; do realm bench synthetic --out syn_s$s.json --n-stays 3000 --seed $s; done
    realm bench synthetic-hospitals syn_s0 syn_s1 syn_s2 syn_s3 syn_s4 [--out means.json]

Each argument is a bench workdir (its ``predictions.parquet`` holds the oracle, ``realm`` and
``timeseries`` probabilities of every test stay). One hospital's test split has 50-70
positives per task, so its oracle - REALM gap carries a CI of about +-0.04; the goal "within
0.03 of the oracle" is better read on the mean over hospitals. Per task this prints, for
oracle - REALM and REALM - time series, each hospital's test AUROC difference and their mean
with a 95 % interval: every resample draws subjects with replacement inside each hospital
(hospitals are independent), and the hospitals' differences are averaged per resample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from realm.data.cohort import TASKS
from realm.errors import DataError

__all__ = ["SyntheticHospitalsConfig", "run", "format_table", "hospital_means"]

#: name -> (minuend, subtrahend) models of each reported difference.
PAIRS = {"oracle_minus_realm": ("oracle", "realm"), "realm_minus_timeseries": ("realm", "timeseries")}


@dataclass(frozen=True)
class SyntheticHospitalsConfig:
    """What ``realm bench synthetic-hospitals`` averages.

    Args:
        runs: ``realm bench synthetic`` workdirs, each with its ``predictions.parquet``.
        out: where to write the numbers as JSON (None: nowhere).
        n_resamples: subject-level bootstrap resamples per hospital.
        seed: bootstrap seed.
    """

    runs: tuple[Path, ...]
    out: Path | None = None
    n_resamples: int = 1000
    seed: int = 0


def _test_probs(path: Path, task: str) -> pd.DataFrame:
    """Test stays of one task with a label: subject, label and one column per model."""
    frame = pd.read_parquet(path)
    rows = frame[(frame["split"] == "test") & (frame["task"] == task) & frame["label"].notna()]
    wide = rows.pivot_table(index=["stay_id", "subject_id", "label"], columns="model", values="prob")
    missing = sorted({m for pair in PAIRS.values() for m in pair} - set(wide.columns))
    if missing:
        raise DataError(f"no {missing} test predictions for {task}", path=path, field="model")
    if wide[[m for pair in PAIRS.values() for m in pair]].isna().any().any():
        raise DataError(f"some {task} test stays lack a prediction of one model", path=path, field="prob")
    return wide.reset_index()


def hospital_means(runs: list[Path], n_resamples: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Per task and pair: each hospital's test AUROC difference, their mean and its 95 % CI."""
    rng = np.random.default_rng(seed)
    result: dict[str, dict] = {}
    for task in TASKS:
        points = {name: [] for name in PAIRS}
        draws = {name: np.zeros((n_resamples, len(runs))) for name in PAIRS}
        for h, run in enumerate(runs):
            table = _test_probs(run / "predictions.parquet", task)
            y = table["label"].astype(int).to_numpy()
            probs = {m: table[m].to_numpy() for pair in PAIRS.values() for m in pair}
            _, subject = np.unique(table["subject_id"].to_numpy(), return_inverse=True)
            members = [np.flatnonzero(subject == k) for k in range(subject.max() + 1)]
            for name, (a, b) in PAIRS.items():
                points[name].append(roc_auc_score(y, probs[a]) - roc_auc_score(y, probs[b]))
            for i in range(n_resamples):
                rows = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
                if y[rows].min() == y[rows].max():
                    raise DataError(f"a resample of {run} has one {task} class only", path=run)
                auroc = {m: roc_auc_score(y[rows], p[rows]) for m, p in probs.items()}
                for name, (a, b) in PAIRS.items():
                    draws[name][i, h] = auroc[a] - auroc[b]
        result[task] = {name: {"per_hospital": [round(float(x), 4) for x in points[name]],
                               "mean": float(np.mean(points[name])),
                               "ci95": [float(np.percentile(draws[name].mean(1), q)) for q in (2.5, 97.5)]}
                        for name in PAIRS}
    return result


def run(cfg: SyntheticHospitalsConfig) -> dict[str, Any]:
    """The means over ``cfg.runs``; written to ``cfg.out`` when set."""
    result = {"runs": [str(r) for r in cfg.runs], **hospital_means(list(cfg.runs), cfg.n_resamples, cfg.seed)}
    if cfg.out:
        cfg.out.write_text(json.dumps(result, indent=2))
    return result


def format_table(result: dict[str, Any]) -> str:
    """Per task and pair: each hospital's difference, the mean and its 95 % interval."""
    return "\n".join(
        f"{task:<16} {name:<23} per hospital {r['per_hospital']}  mean {r['mean']:+.3f} "
        f"[{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]"
        for task, pairs in result.items() if task != "runs" for name, r in pairs.items())
