"""``realm bench synthetic``: REALM vs time series only vs the oracle on the synthetic hospital.

    realm bench synthetic --out syn.json [--n-stays 3000 --seed 0]

Synthesize -> prepare -> extract (lexicon over the KG with dictionary links, plus
time-series findings, exactly as ``realm demo``; all three cached under ``$REALM_CACHE``) ->
train REALM (time series + entities) and the time-series-only GRU, fit GBM and LR on summary
statistics -> AUROC (subject-bootstrap 95% CIs) of each on the designed test split, whose
held-out condition codes never appear in training notes, next to the oracle's AUROC (the true
risks the outcomes were drawn from), and paired differences REALM - GRU and oracle - REALM.
Validation-split AUROCs are reported too: choose settings on them, never on the test split.
``extraction_recall`` is the share of the generator's planted note mentions (window notes) the
extractor found, by group (realm.bench.synthetic_recall; no labels involved).
Every model's validation and test probabilities are written to ``<workdir>/predictions.parquet``
(one row per model, split, stay and task, with the subject and label).

Neural models keep the checkpoint with the best validation loss (or mean AUROC over the tasks,
``--monitor``); ``--neural-seeds`` trains REALM and the GRU that many times each and averages
their probabilities. ``--realm-entity-wide`` (default) adds a linear term on REALM's logits
from the summed node vectors of the present entities (realm.models.fusion.WideEntities, ridge
``--realm-entity-wide-l2``): a node no training stay has still gets a weight through the
vector it shares with its siblings. ``--realm-summary`` adds the summary modality
(realm.features.summary) read as ``--realm-summary-mode``; ``--summary-factors N`` appends N label-free factor scores of the
series, fitted on the train split only (``--summary-factors-only``: the factors without the
statistics). ``--ancestor-depth`` with ``--ancestor-backoff`` lets a node no training stay
mentions (a held-out code's own node) also bring its trained ``is_a`` ancestors
(realm.features.entities.with_ancestors); ``--ancestor-relatives`` (off by default: it did not
raise AUROC) makes such a node bring the trained nodes under its nearest ancestor that has any.
The validation split shares the training codes, so
it cannot show what the back-off does for held-out codes; the share of their mentions that
bring a trained node can be counted without labels (NOTE_MENTIONS.csv against the mentions).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from realm.data.cohort import TASKS
from realm.errors import ConfigError

__all__ = ["register", "run", "MODELS"]

log = logging.getLogger(__name__)

#: Models the benchmark can run (``--models``); the oracle is always scored.
MODELS = ("realm", "timeseries", "gbm", "lr")


def _predict(model: Any, loader: Any) -> pd.DataFrame:
    """P(task) of every stay the loader yields, indexed by stay id."""
    model.eval()
    parts = []
    with torch.no_grad():
        for batch in loader:
            out = model.predict_step(batch, 0)
            parts.append(pd.DataFrame({t: out[t].numpy() for t in model.tasks},
                                      index=out["stay_id"].numpy()))
    return pd.concat(parts)


#: Label-free factor scores REALM's summary gets unless ``--summary-factors`` says otherwise.
DEFAULT_SUMMARY_FACTORS = 1

#: What early stopping and the kept checkpoint watch: both tasks count equally.
MONITOR = "val/mean_auroc"


def mean_auroc_model(base: type) -> type:
    """``base`` (a RealmTask class) that also logs ``val/mean_auroc``, the mean validation
    AUROC over its tasks: one multi-task checkpoint cannot be chosen on one task's AUROC, and
    the validation loss keeps falling on calibration after the ranking has stopped improving."""

    class MeanAuroc(base):  # type: ignore[misc, valid-type]
        def on_validation_epoch_end(self) -> None:
            super().on_validation_epoch_end()
            scores = [self.metrics["val_metrics"][t]["auroc"].compute() for t in self.tasks]
            self.log(MONITOR, torch.stack([torch.as_tensor(s, dtype=torch.float32) for s in scores]).mean())

    MeanAuroc.__name__ = MeanAuroc.__qualname__ = f"{base.__name__}MeanAuroc"
    return MeanAuroc


def _fit_one(name: str, args: argparse.Namespace, data: Any, workdir: Path, seed: int) -> dict[str, Any]:
    """Train one neural model with ``seed``; its validation and test probabilities and cost."""
    from realm.bench.common import train_and_predict
    from realm.models.encoders import GRUEncoder
    from realm.models.module import TimeSeriesModel
    from realm.models.realm_model import RealmConfig, RealmModel

    tasks = list(TASKS)
    sizes = (data.n_features, data.n_variables, data.n_statics)

    def gru(f: int, v: int, s: int) -> GRUEncoder:
        return GRUEncoder(f, v, s, hidden=args.hidden, dropout=0.1)

    optim = {"lr": args.lr, "weight_decay": args.weight_decay, "lr_schedule": args.lr_schedule}
    monitor, mode = (MONITOR, "max") if args.monitor == "mean_auroc" else ("val/loss", "min")
    torch.manual_seed(seed)
    if name == "realm":
        cls = mean_auroc_model(RealmModel) if args.monitor == "mean_auroc" else RealmModel
        model = cls(tasks, *sizes, encoder=gru, **optim, config=RealmConfig(
            hidden=args.hidden, node_dim=args.node_dim, modality_dropout=args.modality_dropout,
            entity_dropout=args.entity_dropout, use_summary=args.realm_summary,
            summary_mode=args.realm_summary_mode, summary_factors=args.summary_factors,
            summary_factors_only=args.summary_factors_only, entity_wide=args.realm_entity_wide,
            entity_wide_l2=args.realm_entity_wide_l2, linear_prior=args.linear_prior,
            prior_summary=args.prior_summary if args.realm_summary else "none"))
    else:
        cls = mean_auroc_model(TimeSeriesModel) if args.monitor == "mean_auroc" else TimeSeriesModel
        model = cls(tasks, *sizes, encoder=gru, lr=args.lr, weight_decay=args.weight_decay)
        # TimeSeriesModel takes no schedule argument; RealmTask reads the attribute (same choices).
        model.lr_schedule = args.lr_schedule
    folder = workdir / name / f"seed{seed}"
    # A checkpoint left by an earlier run would be saved beside as best-v1 and confuse a reader.
    shutil.rmtree(folder, ignore_errors=True)
    fit = train_and_predict(model, data, folder, max_epochs=args.epochs, patience=args.patience,
                            seed=seed, monitor=monitor, mode=mode)
    return {"val": _predict(model, data.val_dataloader()), "test": fit.probs,
            "training": {"seed": seed, "epochs": fit.epochs, "seconds_per_epoch": fit.seconds_per_epoch}}


def _neural(name: str, args: argparse.Namespace, data: Any, workdir: Path) -> dict[str, Any]:
    """One neural model trained ``--neural-seeds`` times (seeds seed, seed + 1, ...): the mean
    of their probabilities (with ~50 positives per split one seed's AUROC varies by a few
    points), the same number of seeds for REALM and the time-series model."""
    fits = [_fit_one(name, args, data, workdir, args.seed + k) for k in range(args.neural_seeds)]
    return {split: sum(f[split] for f in fits) / len(fits) for split in ("val", "test")} | {
        "training": [f["training"] for f in fits]}


def _tabular(cohort_dir: Path, seed: int) -> dict[str, dict[str, pd.DataFrame]]:
    """GBM and LR (realm demo's baselines) on the val and test splits."""
    from realm.demo_models import tabular_predictions

    split = pd.read_parquet(cohort_dir / "stays.parquet", columns=["stay_id", "split"]).set_index("stay_id")["split"]
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for frame in tabular_predictions(cohort_dir, list(TASKS), seed, splits=("val", "test")):
        wide = frame.pivot(index="stay_id", columns="task", values="y_prob")
        out[str(frame["model"].iloc[0]).lower()] = {s: wide[split.loc[wide.index].to_numpy() == s]
                                                    for s in ("val", "test")}
    return out


def prediction_table(preds: dict[str, dict[str, pd.DataFrame]], labels: pd.DataFrame,
                     subjects: pd.Series) -> pd.DataFrame:
    """Every model's (and the oracle's) validation and test probabilities, one row per
    (model, split, stay, task) with the stay's subject and label (NA where undefined)."""
    rows = []
    for name, by_split in preds.items():
        for split, frame in by_split.items():
            long = frame.rename_axis("stay_id").reset_index().melt(
                id_vars="stay_id", var_name="task", value_name="prob")
            rows.append(long.assign(model=name, split=split))
    table = pd.concat(rows, ignore_index=True)
    table["subject_id"] = subjects.loc[table["stay_id"]].to_numpy()
    stacked = labels.rename_axis("stay_id").reset_index().melt(id_vars="stay_id", var_name="task",
                                                                value_name="label")
    table = table.merge(stacked, on=["stay_id", "task"], how="left")
    table["label"] = table["label"].astype("Int8")
    return table[["model", "split", "stay_id", "subject_id", "task", "label", "prob"]]


def _scores(preds: dict[str, dict[str, pd.DataFrame]], oracle: pd.DataFrame, labels: pd.DataFrame,
            subjects: pd.Series, n_resamples: int, seed: int) -> dict[str, Any]:
    """Per task: test AUROC (+ CI) of every model and the oracle, paired differences, val AUROC."""
    from realm.bench.common import compare, score
    from realm.eval.metrics import auroc

    results: dict[str, Any] = {}
    for task in TASKS:
        ids = preds["oracle"]["test"].index
        y = labels.loc[ids, task]
        ids = y.index[y.notna()]
        y = y.loc[ids].astype(int).to_numpy()
        groups = subjects.loc[ids].to_numpy()
        probs = {name: p["test"].loc[ids, task].to_numpy() for name, p in preds.items()
                 if task in p["test"].columns}
        r: dict[str, Any] = {"n_test": int(len(y)), "positive": int(y.sum()), "test": {}, "val_auroc": {}}
        for name, p in probs.items():
            r["test"][name] = score(y, p, groups, n_resamples=n_resamples, seed=seed)["auroc"]
        for a, b in (("realm", "timeseries"), ("oracle", "realm"), ("realm", "gbm")):
            if a in probs and b in probs:
                r[f"{a}_minus_{b}"] = compare(y, probs[a], probs[b], groups, n_resamples=n_resamples,
                                              seed=seed)["auroc"]
        for name, p in preds.items():
            val = p.get("val")
            if val is None or task not in val.columns:
                continue
            yv = labels.loc[val.index, task]
            keep = yv.notna().to_numpy()
            r["val_auroc"][name] = auroc(yv[keep].astype(int).to_numpy(), val.loc[keep, task].to_numpy())
        results[task] = r
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; returns the JSON payload it wrote."""
    from realm.bench.common import peak_rss_mb, write_json
    from realm.bench.synthetic_recall import planted_recall
    from realm.data.datamodule import RealmDataModule
    from realm.data.prepare import prepare_cohort
    from realm.demo import cached_hospital, cached_mentions
    from realm.kg.spec import load_kg
    from realm.features.entities import EntityProvider

    started, cpu0 = time.perf_counter(), time.process_time()
    torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ConfigError(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
    if args.summary_factors is None:  # the default: one factor with the summary, none without
        args.summary_factors = DEFAULT_SUMMARY_FACTORS if args.realm_summary else 0
    if args.summary_factors < 0:
        raise ConfigError(f"--summary-factors must be >= 0, got {args.summary_factors}")
    if args.summary_factors and not args.realm_summary:
        raise ConfigError("--summary-factors needs --realm-summary")
    if args.summary_factors_only and not args.summary_factors:
        raise ConfigError("--summary-factors-only needs --summary-factors N")
    workdir = Path(args.workdir) if args.workdir else Path(args.out).with_suffix("")
    timing: dict[str, float] = {}

    def lap(step: str, t0: float) -> None:
        timing[step] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    raw = Path(args.raw) if args.raw else cached_hospital(args.n_stays, args.seed)
    lap("hospital", t0)
    t0 = time.perf_counter()
    cohort, cohort_dir = prepare_cohort("synthetic", raw, progress=False)
    lap("cohort", t0)
    t0 = time.perf_counter()
    kg = load_kg(args.kg, progress=False)
    mentions = cached_mentions(cohort_dir, str(cohort.meta["cache_key"]), args.kg, kg.version, progress=False)
    lap("extract", t0)
    extract_meta = json.loads(mentions.with_name("mentions_meta.json").read_text())
    t0 = time.perf_counter()
    recall = planted_recall(raw, cohort_dir, mentions)
    lap("extraction_recall", t0)
    oracle = pd.read_parquet(cohort_dir / "oracle.parquet").set_index("stay_id")
    labels = pd.read_parquet(cohort_dir / "labels.parquet").set_index("stay_id")
    stays = pd.read_parquet(cohort_dir / "stays.parquet").set_index("stay_id")
    preds: dict[str, dict[str, pd.DataFrame]] = {"oracle": {
        split: oracle.loc[stays.index[stays["split"] == split], [f"risk_{t}" for t in TASKS]]
        .rename(columns=lambda c: c.removeprefix("risk_")) for split in ("val", "test")}}
    training: dict[str, Any] = {}
    entities: dict[str, Any] = {}
    neural = [m for m in models if m in ("realm", "timeseries")]
    if neural:
        t0 = time.perf_counter()
        provider = EntityProvider(source="mentions", mentions_file=str(mentions), kg=args.kg,
                                  embedding_kinds=args.embedding_kinds.split(","), embedder=args.embedder,
                                  node_dim=args.node_dim, max_entities=args.max_entities, seed=args.seed,
                                  ancestor_depth=args.ancestor_depth, ancestor_backoff=args.ancestor_backoff,
                                  ancestor_relatives=(args.ancestor_relatives and args.ancestor_backoff
                                                      and args.ancestor_depth > 0),
                                  ancestor_types=None)
        extra = [provider] if "realm" in neural else []
        if "realm" in neural and args.realm_summary:
            from realm.features.summary import SummaryProvider

            extra.append(SummaryProvider(n_factors=args.summary_factors, seed=args.seed,
                                         factors_only=args.summary_factors_only))
        data = RealmDataModule(str(cohort_dir), tasks=list(TASKS), batch_size=args.batch_size,
                               seed=args.seed, extra_modalities=extra)
        data.setup()
        lap("tensors_and_entities", t0)
        if extra:
            entities = {"nodes": len(provider.node_ids), "node_embedding_id": provider.node_embedding_id}
        for name in neural:
            t0 = time.perf_counter()
            fit = _neural(name, args, data, workdir)
            preds[name] = {"val": fit["val"], "test": fit["test"]}
            training[name] = fit["training"]
            lap(f"train_{name}", t0)
    if {"gbm", "lr"} & set(models):
        t0 = time.perf_counter()
        preds.update({k: v for k, v in _tabular(cohort_dir, args.seed).items() if k in models})
        lap("tabular", t0)
    results = _scores(preds, oracle, labels, stays["subject_id"], args.n_resamples, args.seed)
    # every model's probabilities beside the checkpoints: re-scoring needs no retraining
    workdir.mkdir(parents=True, exist_ok=True)
    prediction_table(preds, labels, stays["subject_id"]).to_parquet(workdir / "predictions.parquet", index=False)
    payload = {"benchmark": "synthetic", "n_stays": args.n_stays, "seed": args.seed, "auroc": results,
               "kg": extract_meta["kg"], "extract_counts": extract_meta["counts"],
               "extraction_recall": recall, "entities": entities,
               "training": training, "step_seconds": timing,
               "wall_seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu0,
               "peak_rss_mb": peak_rss_mb(), "predictions": str(workdir / "predictions.parquet"),
               "settings": {k: v for k, v in vars(args).items() if k not in ("func", "_module")}}
    write_json(Path(args.out), payload)
    found = ", ".join(f"{group} {r['recall']:.3f}" for group, r in recall.items())
    sys.stdout.write("\n".join(_table(results)) + f"\nplanted mentions found: {found}"
                     + f"\nwall {payload['wall_seconds']:.0f} s, "
                     f"CPU {payload['cpu_seconds']:.0f} s\n")
    return payload


def _table(results: dict[str, Any]) -> list[str]:
    lines = [f"{'task':<16}{'model':<12}{'test AUROC [95% CI]':>26}{'val AUROC':>11}"]
    for task, r in results.items():
        for name, s in r["test"].items():
            val = r["val_auroc"].get(name, float("nan"))
            lines.append(f"{task:<16}{name:<12}{s['value']:>9.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]"
                         f"{val:>11.3f}")
        for key in ("realm_minus_timeseries", "oracle_minus_realm"):
            if key in r:
                d = r[key]
                lines.append(f"{task:<16}{key:<28}{d['value']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
    return lines


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm bench synthetic`` arguments."""
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--n-stays", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="checkpoints (default: OUT without .json)")
    parser.add_argument("--raw", default=None, help="an existing `realm data synth` folder (skips synthesis)")
    parser.add_argument("--kg", default="default", help="KG for the lexicon and node vectors")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--embedder", default="onnx")
    parser.add_argument("--embedding-kinds", default="text,ancestors", help="node vector kinds (EntityProvider)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--node-dim", type=int, default=128)
    parser.add_argument("--max-entities", type=int, default=96,
                        help="entities kept per stay (96 keeps every entity of 99.6%% of 3,000 synthetic stays, 48 of 15%%; chosen on val)")
    parser.add_argument("--modality-dropout", type=float, default=0.1)
    parser.add_argument("--entity-dropout", type=float, default=0.0,
                        help="REALM: fraction of entity tokens hidden in training (RealmConfig.entity_dropout)")
    # on by default, wide: chosen on the validation split in session 4 (BENCHMARKS.md)
    parser.add_argument("--realm-summary", action=argparse.BooleanOptionalAction, default=True,
                        help="REALM also reads per-variable statistics of the raw measurements (use_summary)")
    parser.add_argument("--realm-summary-mode", default="wide", choices=("deep", "wide", "wide_deep"),
                        help="with --realm-summary: an MLP into the time-series summary (deep), a linear "
                             "term on the logits (wide), or both (RealmConfig.summary_mode)")
    # one factor and the wide entity term: chosen on the validation split in session 5 and
    # confirmed on two untouched hospitals (--seed 1, --seed 2), BENCHMARKS.md
    parser.add_argument("--summary-factors", type=int, default=None,
                        help="with --realm-summary: append this many label-free factor scores, fitted on the "
                             "train split's per-variable means and slopes (SummaryProvider.n_factors; "
                             f"default {DEFAULT_SUMMARY_FACTORS} with the summary, 0 without)")
    parser.add_argument("--summary-factors-only", action=argparse.BooleanOptionalAction, default=False,
                        help="with --summary-factors: the summary path reads the factor scores (and the "
                             "statics) only, not the per-variable statistics")
    parser.add_argument("--realm-entity-wide", action=argparse.BooleanOptionalAction, default=True,
                        help="REALM adds a linear term on its logits from the summed node vectors of "
                             "its present entities (RealmConfig.entity_wide)")
    parser.add_argument("--realm-entity-wide-l2", type=float, default=0.01,
                        help="ridge penalty on that term (RealmConfig.entity_wide_l2)")
    # on by default: at 10,000 stays and on five 3,000-stay hospitals it raised REALM's paired
    # AUROC on 9 of 12 task x hospital test comparisons and 10 of 12 validation ones
    # (session 7, BENCHMARKS.md)
    parser.add_argument("--linear-prior", action=argparse.BooleanOptionalAction, default=True,
                        help="REALM adds a fixed ridge logistic regression, fitted on the train split "
                             "before training, to its logits (RealmConfig.linear_prior)")
    parser.add_argument("--prior-summary", default="factors", choices=("factors", "all", "none"),
                        help="with --linear-prior: the summary inputs the prior reads (RealmConfig.prior_summary)")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine", "onecycle"))
    parser.add_argument("--monitor", default="loss", choices=("mean_auroc", "loss"),
                        help="early stopping and the kept checkpoint: mean validation AUROC over the tasks, or loss")
    parser.add_argument("--neural-seeds", type=int, default=3,
                        help="REALM and the time-series model each trained this many times; probabilities averaged")
    parser.add_argument("--ancestor-depth", type=int, default=3,
                        help="entities: is_a ancestors added per linked note mention (EntityProvider)")
    parser.add_argument("--ancestor-backoff", action=argparse.BooleanOptionalAction, default=True,
                        help="entities: ancestors only for nodes no training stay has, only trained ones")
    # Off by default: at 10,000 stays it cost mortality AUROC (-0.010 [-0.017, -0.003]) for
    # no clear readmission gain, though it brings far more held-out codes to trained nodes.
    parser.add_argument("--ancestor-relatives", action=argparse.BooleanOptionalAction, default=False,
                        help="with the back-off, an untrained node brings the trained nodes under its "
                             "nearest ancestor that has any (its trained siblings)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-resamples", type=int, default=1000, help="subject-bootstrap resamples")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; more than 1 thrashes on a shared CPU (17x slower measured)")
    parser.set_defaults(func=lambda a: (run(a), 0)[1])
