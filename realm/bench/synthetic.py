"""``realm bench synthetic``: REALM vs time series only vs the oracle on the synthetic hospital.

    realm bench synthetic --out syn.json [--n-stays 3000 --seed 0 --config bench/synthetic.yaml]

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

The settings are :class:`SyntheticBenchConfig`, read from ``configs/bench/synthetic.yaml``; each
neural model is a list of LightningCLI configs (``configs/bench/synthetic/``: the data with its
entity and summary providers, REALM with its logit terms, the GRU), trained through
realm.pipeline.train ``neural_seeds`` times (seeds seed, seed + 1, ...) with their
probabilities averaged. The validation split shares the training codes, so it cannot show what
the ancestor back-off does for held-out codes; the share of their mentions that bring a
trained node can be counted without labels (NOTE_MENTIONS.csv against the mentions).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from realm.config import config_dict
from realm.data.cohort import TASKS
from realm.errors import ConfigError
from realm.extract.mentions_table import mentions_meta

__all__ = ["SyntheticBenchConfig", "run", "MODELS", "prediction_table"]

log = logging.getLogger(__name__)

#: Models the benchmark can run; the oracle is always scored.
MODELS = ("realm", "timeseries", "gbm", "lr")


@dataclass(frozen=True)
class SyntheticBenchConfig:
    """What ``realm bench synthetic`` runs (tuned values: ``configs/bench/synthetic.yaml``).

    Attributes:
        out: the JSON file to write.
        n_stays: stays of the synthetic hospital.
        seed: seed of the hospital, the providers, the baselines and the first neural seed.
        workdir: checkpoints and ``predictions.parquet`` (default: ``out`` without .json).
        raw: an existing ``realm data synth`` folder (skips synthesis).
        kg: the KG of the lexicon and the node vectors.
        models: which of :data:`MODELS` to run.
        neural_seeds: REALM and the GRU each trained this many times, probabilities averaged.
        data: LightningCLI configs of the data every neural model trains on.
        realm: LightningCLI configs of REALM (model, trainer, callbacks).
        timeseries: LightningCLI configs of the time-series-only model.
        n_resamples: subject-bootstrap resamples.
        threads: torch threads.
    """

    out: Path
    n_stays: int = 3000
    seed: int = 0
    workdir: Path | None = None
    raw: Path | None = None
    kg: str = "default"
    models: tuple[str, ...] = MODELS
    neural_seeds: int = 3
    data: tuple[str, ...] = ("bench/synthetic/data.yaml",)
    realm: tuple[str, ...] = ("bench/synthetic/realm.yaml",)
    timeseries: tuple[str, ...] = ("bench/synthetic/timeseries.yaml",)
    n_resamples: int = 1000
    threads: int = 1

    def check(self) -> None:
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown or not self.models:
            raise ConfigError(f"models: unknown {unknown} or none; choose from {', '.join(MODELS)}")
        if self.neural_seeds < 1 or self.n_stays < 20:
            raise ConfigError(f"need neural_seeds >= 1 and n_stays >= 20, got {self.neural_seeds}, "
                              f"{self.n_stays}")


def _data_config(cfg: SyntheticBenchConfig, cohort_dir: Path, mentions: Path) -> dict[str, Any]:
    """The configured data with this run's cohort, mentions, KG and seed filled in."""
    from realm.config import merge_configs

    data = merge_configs(cfg.data)["data"]
    init = data.setdefault("init_args", {})
    init.update(cohort_dir=str(cohort_dir), seed=cfg.seed)
    for provider in init.get("extra_modalities") or []:
        args = provider.setdefault("init_args", {})
        name = str(provider.get("class_path", "")).rsplit(".", 1)[-1]
        if name == "EntityProvider":
            args.update(mentions_file=str(mentions), kg=cfg.kg, seed=cfg.seed)
        elif name == "SummaryProvider":
            args.update(seed=cfg.seed)
    return {"data": data}


def _fit_one(name: str, cfg: SyntheticBenchConfig, data_config: dict[str, Any], data: Any,
             workdir: Path, seed: int) -> dict[str, Any]:
    """Train one neural model with ``seed``; its validation and test probabilities and cost."""
    from realm.pipeline.train import fit, predict

    folder = workdir / name / f"seed{seed}"
    # A checkpoint left by an earlier run would be saved beside as best-v1 and confuse a reader.
    shutil.rmtree(folder, ignore_errors=True)
    configs = [data_config, *(cfg.realm if name == "realm" else cfg.timeseries)]
    # checkpoints in a subfolder: LightningCLI writes config.yaml into the run folder first,
    # and a checkpoint folder that is not empty makes Lightning warn on every fit
    trained = fit(configs, {"seed_everything": seed, "checkpoint.dirpath": str(folder / "checkpoints"),
                            "trainer.default_root_dir": str(folder)}, datamodule=data, reseed=True)
    return {"test": predict(trained.model, data.test_dataloader()),
            "val": predict(trained.model, data.val_dataloader()),
            "training": {"seed": seed, "epochs": trained.epochs,
                         "seconds_per_epoch": trained.seconds_per_epoch}}


def _neural(name: str, cfg: SyntheticBenchConfig, data_config: dict[str, Any], data: Any,
            workdir: Path) -> dict[str, Any]:
    """One neural model trained ``neural_seeds`` times (seeds seed, seed + 1, ...): the mean
    of their probabilities, the same number of seeds for REALM and the time-series model."""
    fits = [_fit_one(name, cfg, data_config, data, workdir, cfg.seed + k) for k in range(cfg.neural_seeds)]
    return {split: sum(f[split] for f in fits) / len(fits) for split in ("val", "test")} | {
        "training": [f["training"] for f in fits]}


def _tabular(cohort_dir: Path, seed: int) -> dict[str, dict[str, pd.DataFrame]]:
    """GBM and LR (realm demo's baselines) on the val and test splits."""
    from realm.pipeline.baselines import tabular_predictions

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


def run(cfg: SyntheticBenchConfig) -> dict[str, Any]:
    """Run the benchmark; returns the JSON payload it wrote."""
    from realm.bench.common import peak_rss_mb, write_json
    from realm.bench.synthetic_recall import planted_recall
    from realm.data.prepare import prepare_cohort
    from realm.pipeline.hospital import cached_hospital, cached_mentions
    from realm.kg.spec import load_kg
    from realm.pipeline.train import build_datamodule

    cfg.check()
    started, cpu0 = time.perf_counter(), time.process_time()
    torch.set_num_threads(cfg.threads)
    workdir = Path(cfg.workdir) if cfg.workdir else Path(cfg.out).with_suffix("")
    timing: dict[str, float] = {}

    def lap(step: str, t0: float) -> None:
        timing[step] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    raw = Path(cfg.raw) if cfg.raw else cached_hospital(cfg.n_stays, cfg.seed)
    lap("hospital", t0)
    t0 = time.perf_counter()
    cohort, cohort_dir = prepare_cohort("synthetic", raw, progress=False)
    lap("cohort", t0)
    t0 = time.perf_counter()
    kg = load_kg(cfg.kg, progress=False)
    mentions = cached_mentions(cohort_dir, str(cohort.meta["cache_key"]), cfg.kg, kg.version, progress=False)
    lap("extract", t0)
    extract_meta = mentions_meta(mentions)
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
    neural = [m for m in cfg.models if m in ("realm", "timeseries")]
    if neural:
        t0 = time.perf_counter()
        data_config = _data_config(cfg, cohort_dir, mentions)
        # one prepared module for every model and seed: the providers are set up once
        data = build_datamodule([data_config])
        data.setup()
        lap("tensors_and_entities", t0)
        provider = next((p for p in data.extra_modalities if p.name == "entities"), None)
        if provider is not None:
            entities = {"nodes": len(provider.node_ids), "node_embedding_id": provider.node_embedding_id}
        for name in neural:
            t0 = time.perf_counter()
            fit = _neural(name, cfg, data_config, data, workdir)
            preds[name] = {"val": fit["val"], "test": fit["test"]}
            training[name] = fit["training"]
            lap(f"train_{name}", t0)
    if {"gbm", "lr"} & set(cfg.models):
        t0 = time.perf_counter()
        preds.update({k: v for k, v in _tabular(cohort_dir, cfg.seed).items() if k in cfg.models})
        lap("tabular", t0)
    results = _scores(preds, oracle, labels, stays["subject_id"], cfg.n_resamples, cfg.seed)
    # every model's probabilities beside the checkpoints: re-scoring needs no retraining
    workdir.mkdir(parents=True, exist_ok=True)
    prediction_table(preds, labels, stays["subject_id"]).to_parquet(workdir / "predictions.parquet", index=False)
    payload = {"benchmark": "synthetic", "n_stays": cfg.n_stays, "seed": cfg.seed, "auroc": results,
               "kg": extract_meta["kg"], "extract_counts": extract_meta["counts"],
               "extraction_recall": recall, "entities": entities,
               "training": training, "step_seconds": timing,
               "wall_seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu0,
               "peak_rss_mb": peak_rss_mb(), "predictions": str(workdir / "predictions.parquet"),
               "settings": config_dict(cfg)}
    write_json(Path(cfg.out), payload)
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
