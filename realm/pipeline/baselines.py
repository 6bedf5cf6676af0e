"""The models that are not trained by gradient descent: GBM and LR on summary statistics, and
the synthetic hospital's true risk (the oracle), each ending in a predictions table.

``realm demo`` and the model benchmarks score them beside the neural models
(realm.pipeline.train).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["tabular_predictions", "oracle_predictions", "ORACLE_NAME"]

log = logging.getLogger(__name__)

ORACLE_NAME = "oracle (true risk)"


def tabular_predictions(cohort_dir: Path, tasks: list[str], seed: int,
                        splits: tuple[str, ...] = ("test",)) -> list[pd.DataFrame]:
    """GBM and LR on summary statistics: fit on train stays, predict the stays of ``splits``."""
    from realm.data.cohort import Cohort
    from realm.eval.predictions import predictions_frame
    from realm.features.tabular import summary_features
    from realm.models.baselines import fit_predict_baseline

    cohort = Cohort.load(cohort_dir, tables=("stays", "events", "labels"))
    stays = cohort.stays
    icu_types = sorted(stays["icu_type"].dropna().unique())
    features = summary_features(cohort.events, stays, icu_types=icu_types)
    labels = cohort.labels.set_index("stay_id").reindex(features.index)
    split = stays.set_index("stay_id")["split"].reindex(features.index)
    test = features.index[split.isin(list(splits))]
    frames = []
    for name, key in (("GBM", "gbm"), ("LR", "logistic")):
        probs = {}
        for task in tasks:
            y = labels[task]
            train = features.index[(split == "train") & y.notna()]
            if y.loc[train].nunique() < 2:
                log.warning("%s: the train split holds one %s class; no %s predictions", name,
                            task, name)
                continue
            # Constant columns carry no information, and scikit-learn's histogram binning
            # fails on a column with a single distinct value (seen on tiny cohorts).
            cols = features.columns[features.loc[train].nunique() > 1]
            probs[task] = fit_predict_baseline(key, features.loc[train, cols],
                                               y.loc[train].astype(int), features.loc[test, cols],
                                               seed=seed, n_threads=1)
        if probs:
            frames.append(predictions_frame(test.to_numpy(), probs, cohort_dir, name))
    return frames


def oracle_predictions(cohort_dir: Path, tasks: list[str]) -> pd.DataFrame:
    """The synthetic hospital's true risk of every test stay, as a predictions table."""
    from realm.eval.predictions import predictions_frame

    oracle = pd.read_parquet(cohort_dir / "oracle.parquet").set_index("stay_id")
    stays = pd.read_parquet(cohort_dir / "stays.parquet", columns=["stay_id", "split"])
    test = stays.loc[stays["split"] == "test", "stay_id"].to_numpy()
    probs = {t: np.clip(oracle.loc[test, f"risk_{t}"].to_numpy(), 0, 1) for t in tasks}
    return predictions_frame(test, probs, cohort_dir, ORACLE_NAME)
