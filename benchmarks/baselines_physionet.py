"""PhysioNet 2012 in-hospital mortality: GBM and logistic baselines, train on set A, test on B.

Usage::

    python benchmarks/baselines_physionet.py --root ../shared/data/physionet2012 \
        [--out results.json] [--n-resamples 1000] [--seed 0] [--threads 1]

Features are summary statistics over the first 48 h (realm.features.tabular); the metrics
are AUROC, AUPRC, min(Se, +P) and Brier on set B with 95 % patient-level bootstrap
intervals, plus a paired bootstrap of GBM minus logistic regression. Prints a table and
optionally writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from realm.data.readers.physionet2012 import ICU_TYPES, read_physionet2012
from realm.eval.bootstrap import bootstrap_ci, paired_bootstrap_diff
from realm.models.baselines import fit_predict_baseline
from realm.features.tabular import summary_features

METRICS = ("auroc", "auprc", "min_se_ppv", "brier")


def run(root: Path, n_resamples: int, seed: int,
        threads: int | None = None) -> dict[str, object]:
    """Train both baselines on set A, score set B, and bootstrap the test metrics."""
    started = time.perf_counter()
    cohort = read_physionet2012(root, sets=["a", "b"], progress=False)
    read_s = time.perf_counter() - started
    feats = summary_features(cohort.events, cohort.stays, window_hours=48.0,
                             variables=cohort.meta.get("variables"),
                             icu_types=sorted(ICU_TYPES.values()))
    labels = cohort.labels.set_index("stay_id")["mortality"].reindex(feats.index)
    sets = cohort.stays.set_index("stay_id")["set"].reindex(feats.index)
    subjects = cohort.stays.set_index("stay_id")["subject_id"].reindex(feats.index)
    train = (sets == "a").to_numpy() & labels.notna().to_numpy()
    test = (sets == "b").to_numpy() & labels.notna().to_numpy()
    y_train = labels[train].astype(int).to_numpy()
    y_test = labels[test].astype(int).to_numpy()
    result: dict[str, object] = {
        "task": "mortality", "train": "set-a", "test": "set-b",
        "n_train": int(train.sum()), "n_test": int(test.sum()),
        "test_positives": int(y_test.sum()), "n_features": int(feats.shape[1]),
        "n_resamples": n_resamples, "seed": seed, "read_seconds": round(read_s, 1),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "models": {},
    }
    probs: dict[str, np.ndarray] = {}
    for name in ("gbm", "logistic"):
        t0 = time.perf_counter()
        probs[name] = fit_predict_baseline(name, feats[train], y_train, feats[test], seed=seed,
                                            n_threads=threads)
        fit_s = time.perf_counter() - t0
        cis = bootstrap_ci(y_test, probs[name], subjects[test].to_numpy(), METRICS,
                           n_resamples=n_resamples, seed=seed)
        result["models"][name] = {"fit_predict_seconds": round(fit_s, 2), "metrics": cis}
    result["gbm_minus_logistic"] = paired_bootstrap_diff(
        y_test, probs["gbm"], probs["logistic"], subjects[test].to_numpy(), METRICS,
        n_resamples=n_resamples, seed=seed)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/data/physionet2012"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="OpenMP/BLAS threads for fitting (default: all cores)")
    args = parser.parse_args()
    result = run(args.root, args.n_resamples, args.seed, args.threads)
    print(f"train {result['train']} n={result['n_train']}, test {result['test']} "
          f"n={result['n_test']} ({result['test_positives']} deaths), "
          f"{result['n_features']} features")
    print(f"{'model':<10}" + "".join(f"{m:>24}" for m in METRICS))
    for name, block in result["models"].items():
        cells = [f"{v['value']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"
                 for v in (block["metrics"][m] for m in METRICS)]
        print(f"{name:<10}" + "".join(f"{c:>24}" for c in cells))
    diff = result["gbm_minus_logistic"]
    print("gbm - logistic: " + ", ".join(
        f"{m} {diff[m]['value']:+.3f} [{diff[m]['ci95'][0]:+.3f}, {diff[m]['ci95'][1]:+.3f}]"
        f" p={diff[m]['p_value']:.3f}" for m in METRICS))
    print(f"wall time {result['wall_seconds']} s")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
