"""``realm bench physionet2012``: REALM vs GRU, Transformer, GBM and LR on PhysioNet 2012.

    realm bench physionet2012 --data DIR --train-sets a,b --test-set c --out physionet.json

DIR holds ``set-X.tar.gz`` (or ``set-X/``) and ``Outcomes-X.txt``. The train sets are split
by subject (seeded) into train and validation (early stopping only); the test set is scored
once. The settings are :class:`PhysioNetBenchConfig`, read from
``configs/bench/physionet2012.yaml``; each neural model is a list of LightningCLI configs
(``configs/bench/physionet2012/``), trained through realm.pipeline.train on one prepared
DataModule. REALM's entities are the time-series findings (PhysioNet 2012 has no notes) and it
learns SAPS-I, SOFA and log length of stay as auxiliary targets; it averages the probabilities
of ``realm_seeds`` models trained with consecutive seeds, ``realm_jobs`` forked processes side
by side. The seeds are cross-fitted (``realm_folds``): the train sets' stays are dealt by
subject into folds and seed k validates on fold k, so every training stay trains most of the
models (the GBM, too, fits on every training stay); ``realm_folds: 0`` gives every seed the one
validation split instead. Every model is scored with the patient-level bootstrap, plus paired
differences REALM - GBM.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from realm.config import config_dict
from realm.errors import ConfigError

__all__ = ["PhysioNetBenchConfig", "run", "prepare_split_cohort"]

log = logging.getLogger(__name__)
TASK = "mortality"


@dataclass(frozen=True)
class PhysioNetBenchConfig:
    """What ``realm bench physionet2012`` runs (tuned values: ``configs/bench/physionet2012.yaml``).

    Attributes:
        data: folder with ``set-X.tar.gz`` (or ``set-X/``) and ``Outcomes-X.txt``.
        out: the JSON file to write.
        train_sets: sets split by subject into train and validation.
        test_set: the set scored once.
        workdir: cohort, checkpoints and predictions (default: ``out`` without .json).
        seed: seed of the split, the folds, the baselines and the first REALM seed.
        val_fraction: share of the train sets' subjects that validates.
        realm_seeds: REALM models averaged (seeds seed, seed + 1, ...).
        realm_jobs: processes training the REALM seeds side by side (each with ``threads``).
        realm_folds: cross-fitting folds (0: every seed uses the cohort's validation split).
        datamodule: LightningCLI configs of the data every neural model trains on.
        realm, gru, transformer: LightningCLI configs of each neural model.
        n_resamples: subject-bootstrap resamples.
        threads: torch threads and GBM threads.
    """

    data: Path
    out: Path
    train_sets: tuple[str, ...] = ("a", "b")
    test_set: str = "c"
    workdir: Path | None = None
    seed: int = 0
    val_fraction: float = 0.15
    realm_seeds: int = 5
    realm_jobs: int = 2
    realm_folds: int = 5
    datamodule: tuple[str, ...] = ("bench/physionet2012/data.yaml",)
    realm: tuple[str, ...] = ("bench/physionet2012/realm.yaml",)
    gru: tuple[str, ...] = ("bench/physionet2012/gru.yaml",)
    transformer: tuple[str, ...] = ("bench/physionet2012/transformer.yaml",)
    n_resamples: int = 1000
    threads: int = 1

    def check(self) -> None:
        if self.realm_folds == 1 or self.realm_folds < 0:
            raise ConfigError(f"realm_folds must be 0 (no cross-fitting) or at least 2, not {self.realm_folds}")
        if self.realm_seeds < 1:
            raise ConfigError(f"realm_seeds must be at least 1, not {self.realm_seeds}")
        if self.test_set in self.train_sets:
            raise ConfigError(f"test set {self.test_set!r} is also a train set")


def prepare_split_cohort(data: Path, train_sets: list[str], test_set: str, out: Path, *,
                         val_fraction: float, seed: int) -> Path:
    """Prepare the sets into ``out``: test = ``test_set``; train sets split train/val by subject."""
    from realm.data.prepare import prepare_cohort

    if test_set in train_sets:
        raise ConfigError(f"test set {test_set!r} is also a train set")
    cohort, folder = prepare_cohort("physionet2012", data, out, sets=[*train_sets, test_set],
                                    fractions=(1 - val_fraction, val_fraction, 0.0), seed=seed,
                                    progress=False)
    stays = cohort.stays
    is_test = stays["set"].astype("string") == test_set
    if (stays.loc[is_test, "split"] != "test").any():
        stays["split"] = stays["split"].astype("string").where(~is_test, "test")
        stays["split"] = stays["split"].where(is_test | (stays["split"] != "test"), "train")
        cohort.save(folder)
    return folder


@dataclass(frozen=True)
class _Fitted:
    """Test-split probabilities (one column per task, indexed by stay id) and the cost."""

    probs: pd.DataFrame
    epochs: int
    seconds: float

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)


def _data_config(cfg: PhysioNetBenchConfig, cohort_dir: Path) -> dict[str, Any]:
    """The configured data with this run's cohort, seed and folds filled in."""
    from realm.config import merge_configs

    data = merge_configs(cfg.datamodule)["data"]
    data.setdefault("init_args", {}).update(cohort_dir=str(cohort_dir), seed=cfg.seed,
                                            n_folds=max(cfg.realm_folds, 2), fold_seed=cfg.seed)
    return {"data": data}


def _fit(configs: list[Any], data: Any, folder: Path, seed: int, threads: int) -> _Fitted:
    """Train one model of ``configs`` on ``data`` with ``seed``; its test probabilities."""
    from realm.pipeline.train import fit, predict

    torch.set_num_threads(threads)
    # checkpoints in a subfolder: LightningCLI writes config.yaml into the run folder first,
    # and a checkpoint folder that is not empty makes Lightning warn on every fit
    trained = fit(configs, {"seed_everything": seed, "checkpoint.dirpath": str(folder / "checkpoints"),
                            "trainer.default_root_dir": str(folder)}, datamodule=data, reseed=True)
    return _Fitted(predict(trained.model, data.test_dataloader()), trained.epochs, trained.seconds)


def _realm_seed(cfg: PhysioNetBenchConfig, configs: list[Any], data: Any, workdir: Path, seed: int) -> _Fitted:
    """Train and score one REALM seed (in this process, or a forked one)."""
    # cross-fitting: seed k validates on fold k mod K of the pooled train+val stays
    data.use_fold((seed - cfg.seed) % cfg.realm_folds if cfg.realm_folds else None)
    result = _fit(configs, data, workdir / "realm" / f"seed{seed}", seed, cfg.threads)
    log.info("realm seed %d: %d epochs, %.1f s/epoch", seed, result.epochs, result.seconds_per_epoch)
    return result


def _forked(fn: Callable[[int], _Fitted], items: list[int], jobs: int) -> list[_Fitted]:
    """``fn`` of every item, ``jobs`` forked processes at a time, in the order of ``items``.
    Forked, not spawned: each process inherits the prepared DataModule as is, and nothing
    but the result travels back (through a pipe)."""
    context = multiprocessing.get_context("fork")

    def child(send: Any, item: int) -> None:
        try:
            send.send(("ok", fn(item)))
        except BaseException as exc:  # handed to the parent, which raises it
            send.send(("error", exc))
        finally:
            send.close()

    results: list[_Fitted] = []
    for start in range(0, len(items), jobs):
        running = []
        for item in items[start:start + jobs]:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=child, args=(send, item))
            process.start()
            send.close()
            running.append((process, receive))
        for process, receive in running:
            status, value = receive.recv()
            process.join()
            if status == "error":
                raise value
            results.append(value)
    return results


def _realm(cfg: PhysioNetBenchConfig, data_config: dict[str, Any], data: Any, workdir: Path) -> _Fitted:
    """REALM, ``realm_seeds`` times with seeds seed, seed + 1, ...: the mean probability, and
    the summed training cost. With ``realm_jobs`` > 1 the seeds train in forked processes;
    every seed's model is the same as in one process (each seeds everything itself)."""
    seeds = [cfg.seed + k for k in range(cfg.realm_seeds)]
    configs = [data_config, *cfg.realm]
    jobs = min(max(cfg.realm_jobs, 1), len(seeds))
    try:
        if jobs == 1:
            runs = [_realm_seed(cfg, configs, data, workdir, seed) for seed in seeds]
        else:
            runs = _forked(lambda seed: _realm_seed(cfg, configs, data, workdir, seed), seeds, jobs)
    finally:
        data.use_fold(None)  # the baselines below train on the cohort's own split
    probs = sum(r.probs for r in runs) / len(runs)
    return _Fitted(probs, sum(r.epochs for r in runs), sum(r.seconds for r in runs))


def _models(cfg: PhysioNetBenchConfig, data_config: dict[str, Any], data: Any,
            workdir: Path) -> tuple[dict[str, _Fitted], float]:
    """Train the three networks; returns name -> _Fitted, and REALM's wall seconds."""
    started = time.perf_counter()
    results = {"realm": _realm(cfg, data_config, data, workdir)}
    realm_wall = time.perf_counter() - started  # below the summed seconds with realm_jobs > 1
    log.info("realm: %d epochs over %d seeds, %.1f s/epoch", results["realm"].epochs, cfg.realm_seeds,
             results["realm"].seconds_per_epoch)
    for name, configs in (("gru", cfg.gru), ("transformer", cfg.transformer)):
        results[name] = _fit([data_config, *configs], data, workdir / name, cfg.seed, cfg.threads)
        log.info("%s: %d epochs, %.1f s/epoch", name, results[name].epochs, results[name].seconds_per_epoch)
    return results, realm_wall


def _baselines(cohort_dir: Path, test_ids: np.ndarray, seed: int, threads: int) -> dict[str, pd.Series]:
    """GBM and LR on summary statistics, fit on every train-set stay (their own inner validation)."""
    from realm.data.cohort import Cohort
    from realm.models.baselines import fit_predict_baseline
    from realm.features.tabular import summary_features

    cohort = Cohort.load(cohort_dir, tables=("events",))
    stays = cohort.stays.merge(cohort.labels[["stay_id", TASK]], on="stay_id")
    stays = stays[stays[TASK].notna()]
    icu = sorted(stays.loc[stays["split"] != "test", "icu_type"].dropna().astype(str).unique())
    train = stays[stays["split"].isin(["train", "val"])]
    test = stays.set_index("stay_id").loc[test_ids].reset_index()
    xf = summary_features(cohort.events, train, icu_types=icu)
    xt = summary_features(cohort.events, test, icu_types=icu)
    # A variable never measured in the train sets carries nothing; dropping it also avoids
    # HistGradientBoosting's binning failing on an all-NaN column (numpy 2.x sliding windows).
    measured = xf.columns[xf.notna().any()]
    xf, xt = xf[measured], xt[measured]
    y = train[TASK].astype(int).to_numpy()
    return {name: pd.Series(fit_predict_baseline(key, xf, y, xt, seed=seed, n_threads=threads), index=test_ids)
            for name, key in (("gbm", "gbm"), ("lr", "logistic"))}


def run(cfg: PhysioNetBenchConfig) -> dict[str, Any]:
    """Run the benchmark; returns the JSON payload it wrote."""
    from realm.bench.common import compare, peak_rss_mb, print_table, score, write_json
    from realm.data.cohort import Cohort
    from realm.pipeline.train import build_datamodule

    cfg.check()
    started = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    train_sets = list(cfg.train_sets)
    workdir = Path(cfg.workdir) if cfg.workdir else Path(cfg.out).with_suffix("")
    cohort_dir = prepare_split_cohort(Path(cfg.data), train_sets, cfg.test_set, workdir / "cohort",
                                      val_fraction=cfg.val_fraction, seed=cfg.seed)
    t_prep = time.perf_counter() - started
    data_config = _data_config(cfg, cohort_dir)
    data = build_datamodule([data_config])
    data.setup()
    trained, realm_wall = _models(cfg, data_config, data, workdir)
    test_ids = trained["realm"].probs.index.to_numpy()
    probs = {name: r.probs[TASK].to_numpy() for name, r in trained.items()}
    probs.update({k: v.to_numpy() for k, v in _baselines(cohort_dir, test_ids, cfg.seed, cfg.threads).items()})
    meta = Cohort.load(cohort_dir, tables=()).stays.set_index("stay_id")
    labels = pd.read_parquet(cohort_dir / "labels.parquet").set_index("stay_id")[TASK]
    y = labels.loc[test_ids].astype(int).to_numpy()
    groups = meta.loc[test_ids, "subject_id"].to_numpy()
    # every model's test probabilities beside the checkpoints: a reviewer can re-score them
    # (other metrics, subgroups, ensembles) without retraining anything
    predictions = pd.DataFrame({"stay_id": test_ids, "subject_id": groups, TASK: y, **probs})
    predictions.to_parquet(workdir / "predictions.parquet", index=False)
    models = {name: score(y, p, groups, n_resamples=cfg.n_resamples, seed=cfg.seed) for name, p in probs.items()}
    provider = next((p for p in data.extra_modalities if p.name == "entities"), None)
    payload = {
        "benchmark": "physionet2012", "train_sets": train_sets, "test_set": cfg.test_set,
        "n_test": int(len(y)), "test_positive": int(y.sum()),
        "n_train": data.split_size("train"), "n_val": data.split_size("val"),
        "models": models,
        "paired": {"realm-gbm": compare(y, probs["realm"], probs["gbm"], groups,
                                        n_resamples=cfg.n_resamples, seed=cfg.seed)},
        "training": {name: {"epochs": r.epochs, "seconds": r.seconds, "seconds_per_epoch": r.seconds_per_epoch}
                     for name, r in trained.items()},
        "realm_seeds": cfg.realm_seeds,
        "entities": {} if provider is None else {
            "nodes": len(provider.node_ids), "kg_version": provider.kg_version,
            "node_embedding_id": provider.node_embedding_id},
        "settings": config_dict(cfg),
        "threads": cfg.threads, "prepare_seconds": t_prep,
        "realm_wall_seconds": realm_wall,
        "predictions": str(workdir / "predictions.parquet"),
        "wall_seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(),
        # the largest forked REALM worker (realm_jobs > 1; Linux KiB, counting what it shares
        # with this process from the fork); the workers run side by side, this one waits
        "peak_rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    write_json(Path(cfg.out), payload)
    print_table(models, {"paired realm-gbm": {m: f"{d['value']:+.3f} p={d['p_value']:.3f}"
                                              for m, d in payload["paired"]["realm-gbm"].items()},
                         "time": {"wall_s": round(payload["wall_seconds"], 1),
                                  "peak_rss_mb": round(payload["peak_rss_mb"])}})
    return payload
