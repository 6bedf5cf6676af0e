"""``realm bench physionet2012``: REALM vs GRU, Transformer, GBM and LR on PhysioNet 2012.

    realm bench physionet2012 --data DIR --train-sets a,b --test-set c --out physionet.json

DIR holds ``set-X.tar.gz`` (or ``set-X/``) and ``Outcomes-X.txt``. The train sets are split
by subject (seeded) into train and validation (early stopping only); the test set is scored
once. REALM's entities are the time-series findings (``kg/lab_findings.csv`` rules over the
48 h window, nodes of the default KG, each with its worst value, fraction abnormal and last
value): PhysioNet 2012 has no notes. REALM anneals its learning rate (cosine, weight decay
0.01), hides 20 % of a stay's entity tokens in training (``--realm-entity-dropout``) and
uses dropout 0.2 in its blocks (``--realm-dropout``; both chosen on the validation split),
keeps the epoch of best validation AUROC and averages the probabilities of ``--realm-seeds``
(5) models trained with consecutive seeds, ``--realm-jobs`` (2) processes side by side.
The seeds are cross-fitted (``--realm-folds`` 5): the train sets' stays are dealt by subject
into 5 folds and seed k validates on fold k, so every training stay trains four of the five
models (the GBM, too, fits on every training stay); ``--realm-folds 0`` gives every seed the
one validation split instead.
REALM also learns to predict SAPS-I, SOFA and log length of stay in training
(``--realm-aux-targets``, realm.features.aux_targets: targets only, never inputs; test stays'
values are never loaded), chosen on out-of-fold predictions inside set A.
``--realm-summary`` adds the summary modality (realm.features.summary; ``--realm-summary-mode``
deep, wide or wide_deep), off because it lowered the validation AUROC. The baselines are
trained exactly as before.
Every model is scored with the patient-level bootstrap (1000 resamples), plus paired
differences REALM - GBM.
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from realm.errors import ConfigError

__all__ = ["register", "run", "prepare_split_cohort"]

log = logging.getLogger(__name__)
TASK = "mortality"


def prepare_split_cohort(data: Path, train_sets: list[str], test_set: str, out: Path, *,
                         val_fraction: float, seed: int) -> Path:
    """Prepare the sets into ``out``: test = ``test_set``; train sets split train/val by subject."""
    from realm.data.cohort import Cohort
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


def _aux_columns(args: argparse.Namespace) -> list[str]:
    """The stays columns ``--realm-aux-targets`` names (empty: no auxiliary targets)."""
    return [c.strip() for c in args.realm_aux_targets.split(",") if c.strip()]


def _needs_summary(args: argparse.Namespace) -> bool:
    """Whether REALM's batches need the summary modality (its network or its linear prior)."""
    return args.realm_summary or (args.realm_linear_prior and args.realm_prior_summary != "none")


#: What the forked seed workers of ``--realm-jobs`` inherit (set just before forking).
_SHARED: dict[str, Any] = {}


def _realm_seed(seed: int) -> Any:
    """Train and score one REALM seed (in this process, or a forked worker)."""
    from realm.bench.common import train_and_predict
    from realm.models.realm_model import RealmConfig, RealmModel

    args, data, workdir, gru = (_SHARED[k] for k in ("args", "data", "workdir", "gru"))
    torch.set_num_threads(args.threads)
    config = RealmConfig(hidden=args.hidden, node_dim=args.node_dim, modality_dropout=0.2,
                         entity_dropout=args.realm_entity_dropout, dropout=args.realm_dropout,
                         use_summary=args.realm_summary,
                         summary_mode=args.realm_summary_mode, summary_dropout=args.realm_summary_dropout,
                         aux_targets=len(_aux_columns(args)), aux_weight=args.realm_aux_weight,
                         linear_prior=args.realm_linear_prior, prior_summary=args.realm_prior_summary)
    # cross-fitting: seed k validates on fold k mod K of the pooled train+val stays
    data.use_fold((seed - args.seed) % args.realm_folds if args.realm_folds else None)
    torch.manual_seed(seed)
    model = RealmModel([TASK], data.n_features, data.n_variables, data.n_statics, encoder=gru,
                       config=config, lr=args.realm_lr, weight_decay=args.realm_weight_decay,
                       lr_schedule=args.realm_schedule)
    # Early stopping and the kept checkpoint on the validation AUROC (the reported metric:
    # the loss keeps falling after the ranking has stopped improving).
    result = train_and_predict(model, data, workdir / "realm" / f"seed{seed}",
                               max_epochs=args.realm_epochs, patience=args.realm_patience,
                               seed=seed, monitor=f"val/{TASK}_auroc", mode="max")
    log.info("realm seed %d: %d epochs, %.1f s/epoch", seed, result.epochs, result.seconds_per_epoch)
    return result


def _realm(args: argparse.Namespace, data, workdir: Path, gru) -> Any:
    """REALM, ``--realm-seeds`` times with seeds seed, seed + 1, ...: the mean probability,
    and the summed training cost. With ``--realm-jobs`` > 1 the seeds train in that many
    forked processes (each with ``--threads`` torch threads); every seed's model is the
    same as in one process (each seeds everything itself)."""
    from realm.bench.common import TrainResult

    seeds = [args.seed + k for k in range(args.realm_seeds)]
    _SHARED.update(args=args, data=data, workdir=workdir, gru=gru)
    jobs = min(max(args.realm_jobs, 1), len(seeds))
    try:
        if jobs == 1:
            runs = [_realm_seed(seed) for seed in seeds]
        else:
            import multiprocessing

            # fork: the workers inherit the prepared data (and the encoder closure) as is
            with multiprocessing.get_context("fork").Pool(jobs, maxtasksperchild=1) as pool:
                runs = pool.map(_realm_seed, seeds, chunksize=1)
    finally:
        _SHARED.clear()
        data.use_fold(None)  # the baselines below train on the cohort's own split
    probs = sum(r.probs for r in runs) / len(runs)
    return TrainResult(probs, sum(r.epochs for r in runs), sum(r.seconds for r in runs))


def _models(args: argparse.Namespace, data, workdir: Path) -> tuple[dict[str, Any], float]:
    """Train the three networks; returns name -> TrainResult, and REALM's wall seconds."""
    from realm.bench.common import train_and_predict
    from realm.models.encoders import GRUEncoder, TransformerEncoder
    from realm.models.module import TimeSeriesModel

    h = args.hidden
    sizes = (data.n_features, data.n_variables, data.n_statics)

    def gru(f: int, v: int, s: int) -> GRUEncoder:
        return GRUEncoder(f, v, s, hidden=h, dropout=0.2)

    def transformer(f: int, v: int, s: int) -> TransformerEncoder:
        return TransformerEncoder(f, v, s, hidden=h, layers=2, heads=4, dropout=0.1)

    builders = {
        "gru": lambda: TimeSeriesModel([TASK], *sizes, encoder=gru, head_dropout=0.2),
        "transformer": lambda: TimeSeriesModel([TASK], *sizes, encoder=transformer, lr=5e-4),
    }
    started = time.perf_counter()
    results = {"realm": _realm(args, data, workdir, gru)}
    realm_wall = time.perf_counter() - started  # below the summed seconds with --realm-jobs > 1
    log.info("realm: %d epochs over %d seeds, %.1f s/epoch", results["realm"].epochs, args.realm_seeds,
             results["realm"].seconds_per_epoch)
    for name, build in builders.items():
        torch.manual_seed(args.seed)
        results[name] = train_and_predict(build(), data, workdir / name, max_epochs=args.epochs,
                                          patience=args.patience, seed=args.seed)
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; returns the JSON payload it wrote."""
    from realm.bench.common import compare, peak_rss_mb, print_table, score, write_json
    from realm.data.datamodule import RealmDataModule
    from realm.features.aux_targets import AuxTargetProvider
    from realm.features.entities import EntityProvider
    from realm.features.summary import SummaryProvider

    if args.realm_folds == 1 or args.realm_folds < 0:
        raise ConfigError(f"--realm-folds must be 0 (no cross-fitting) or at least 2, not {args.realm_folds}")
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    train_sets = [s.strip() for s in args.train_sets.split(",") if s.strip()]
    workdir = Path(args.workdir) if args.workdir else Path(args.out).with_suffix("")
    cohort_dir = prepare_split_cohort(Path(args.data), train_sets, args.test_set, workdir / "cohort",
                                      val_fraction=args.val_fraction, seed=args.seed)
    t_prep = time.perf_counter() - started
    provider = EntityProvider(source="findings", kg=args.kg, embedder=args.embedder,
                              node_dim=args.node_dim, max_entities=args.max_entities)
    aux = _aux_columns(args)
    targets = [AuxTargetProvider(aux, log_columns=[c for c in aux if c in args.realm_aux_log.split(",")])] if aux else []
    data = RealmDataModule(str(cohort_dir), tasks=[TASK], batch_size=args.batch_size,
                           seed=args.seed, n_folds=max(args.realm_folds, 2), fold_seed=args.seed,
                           extra_modalities=[provider, *targets] + ([SummaryProvider()] if _needs_summary(args) else []))
    data.setup()
    trained, realm_wall = _models(args, data, workdir)
    test_ids = trained["realm"].probs.index.to_numpy()
    probs = {name: r.probs[TASK].to_numpy() for name, r in trained.items()}
    probs.update({k: v.to_numpy() for k, v in _baselines(cohort_dir, test_ids, args.seed, args.threads).items()})
    from realm.data.cohort import Cohort

    meta = Cohort.load(cohort_dir, tables=()).stays.set_index("stay_id")
    labels = pd.read_parquet(cohort_dir / "labels.parquet").set_index("stay_id")[TASK]
    y = labels.loc[test_ids].astype(int).to_numpy()
    groups = meta.loc[test_ids, "subject_id"].to_numpy()
    # every model's test probabilities beside the checkpoints: a reviewer can re-score them
    # (other metrics, subgroups, ensembles) without retraining anything
    predictions = pd.DataFrame({"stay_id": test_ids, "subject_id": groups, TASK: y, **probs})
    predictions.to_parquet(workdir / "predictions.parquet", index=False)
    models = {name: score(y, p, groups, n_resamples=args.n_resamples, seed=args.seed) for name, p in probs.items()}
    payload = {
        "benchmark": "physionet2012", "train_sets": train_sets, "test_set": args.test_set,
        "n_test": int(len(y)), "test_positive": int(y.sum()),
        "n_train": data.split_size("train"), "n_val": data.split_size("val"),
        "models": models,
        "paired": {"realm-gbm": compare(y, probs["realm"], probs["gbm"], groups,
                                        n_resamples=args.n_resamples, seed=args.seed)},
        "training": {name: {"epochs": r.epochs, "seconds": r.seconds, "seconds_per_epoch": r.seconds_per_epoch}
                     for name, r in trained.items()},
        "realm_seeds": args.realm_seeds,
        "entities": {"nodes": len(provider.node_ids), "kg_version": provider.kg_version,
                     "node_embedding_id": provider.node_embedding_id},
        "settings": {k: v for k, v in vars(args).items() if k not in ("func", "_module")},
        "threads": args.threads, "prepare_seconds": t_prep,
        "realm_wall_seconds": realm_wall,
        "predictions": str(workdir / "predictions.parquet"),
        "wall_seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(),
        # the largest forked REALM worker (--realm-jobs > 1; Linux KiB, counting what it shares
        # with this process from the fork); the workers run side by side, this one waits
        "peak_rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    write_json(Path(args.out), payload)
    print_table(models, {"paired realm-gbm": {m: f"{d['value']:+.3f} p={d['p_value']:.3f}"
                                              for m, d in payload["paired"]["realm-gbm"].items()},
                         "time": {"wall_s": round(payload["wall_seconds"], 1),
                                  "peak_rss_mb": round(payload["peak_rss_mb"])}})
    return payload


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm bench physionet2012`` arguments."""
    parser.add_argument("--data", required=True, help="folder with set-X.tar.gz and Outcomes-X.txt")
    parser.add_argument("--train-sets", default="a,b", help="comma-separated train sets")
    parser.add_argument("--test-set", default="c")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--workdir", default=None, help="cohort and checkpoints (default: OUT without .json)")
    parser.add_argument("--kg", default="default", help="KG of the finding nodes (name or spec YAML)")
    parser.add_argument("--embedder", default="onnx", help="text embedder of the node vectors")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--node-dim", type=int, default=64)
    parser.add_argument("--max-entities", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--n-resamples", type=int, default=1000)
    # One thread by default: these models' matrices are small, and on a shared 2-core machine
    # a second torch thread cost ~4x the CPU per epoch (measured); the reported run used 1.
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads and GBM threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--realm-seeds", type=int, default=5, help="REALM models averaged (seeds seed, seed+1, ...)")
    parser.add_argument("--realm-jobs", type=int, default=2,
                        help="processes training the REALM seeds side by side (each with --threads)")
    parser.add_argument("--realm-folds", type=int, default=5,
                        help="cross-fitting: REALM seed k validates on fold k mod K of the pooled "
                             "train+val stays (0: every seed uses the cohort's validation split)")
    parser.add_argument("--realm-aux-targets", default="saps1,sofa,los_hours",
                        help="comma-separated stays columns REALM also learns to predict in training "
                             "(targets only, never inputs; '' for none)")
    parser.add_argument("--realm-aux-log", default="los_hours",
                        help="comma-separated auxiliary targets read as log1p(value)")
    parser.add_argument("--realm-aux-weight", type=float, default=0.3,
                        help="weight of the auxiliary targets' mean squared error (RealmConfig.aux_weight)")
    parser.add_argument("--realm-summary", action=argparse.BooleanOptionalAction, default=False,
                        help="REALM also reads the per-variable summary statistics (off: it lowered "
                             "the validation AUROC, see BENCHMARKS.md)")
    parser.add_argument("--realm-summary-mode", choices=("deep", "wide", "wide_deep"), default="deep",
                        help="with --realm-summary: an MLP into the series summary, a linear logit "
                             "term, or both (RealmConfig.summary_mode)")
    parser.add_argument("--realm-linear-prior", action=argparse.BooleanOptionalAction, default=False,
                        help="REALM adds a fixed ridge logistic regression, fitted on its train folds "
                             "before training, to its logits (RealmConfig.linear_prior)")
    parser.add_argument("--realm-prior-summary", choices=("all", "none"), default="all",
                        help="with --realm-linear-prior: the prior also reads every summary statistic "
                             "(all) or only the entity vectors and statics (none)")
    parser.add_argument("--realm-summary-dropout", type=float, default=0.1,
                        help="dropout on the summary inputs (RealmConfig.summary_dropout)")
    parser.add_argument("--realm-dropout", type=float, default=0.2,
                        help="dropout inside REALM's blocks and before its head (RealmConfig.dropout)")
    parser.add_argument("--realm-entity-dropout", type=float, default=0.2,
                        help="fraction of entity tokens hidden in training (RealmConfig.entity_dropout)")
    parser.add_argument("--realm-epochs", type=int, default=16, help="REALM's max epochs (the cosine period)")
    parser.add_argument("--realm-patience", type=int, default=6, help="REALM's early-stopping patience (val AUROC)")
    parser.add_argument("--realm-schedule", choices=("constant", "cosine", "onecycle"), default="cosine")
    parser.add_argument("--realm-lr", type=float, default=1e-3)
    parser.add_argument("--realm-weight-decay", type=float, default=1e-2)
    parser.set_defaults(func=lambda a: (run(a), 0)[1])
