"""``realm bench synthetic``: REALM vs time series only vs the oracle on the synthetic hospital.

    realm bench synthetic --out synthetic.json [--n-stays 3000 --seed 0]

Synthesize -> prepare -> ``realm extract`` (lexicon over the KG, plus time-series findings)
-> train REALM (time series + entities) and the time-series-only GRU -> AUROC of each on
the designed test split, whose condition codes never appear in training notes, next to the
oracle's AUROC (the true risks the outcomes were drawn from). Only a model that reads the
notes *through the KG* (the unseen code's text and ancestors) can close the gap.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from realm.data.cohort import TASKS

__all__ = ["register", "run"]

log = logging.getLogger(__name__)


def _extract(cohort_dir: Path, kg: str) -> dict[str, Any]:
    from realm.commands.extract import run_extract

    args = argparse.Namespace(cohort=cohort_dir, extractor="lexicon", kg=kg, llm_config=None,
                              no_timeseries=False, lab_findings=None, window_hours=None,
                              linker="dictionary", ensemble_mode="union", min_votes=2,
                              min_confidence=0.5, out=None, no_progress=True)
    return run_extract(args)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; returns the JSON payload it wrote."""
    from realm.bench.common import peak_rss_mb, train_and_predict, write_json
    from realm.data.datamodule import RealmDataModule
    from realm.data.prepare import prepare_cohort
    from realm.data.synth import write_synthetic_hospital
    from realm.eval.metrics import auroc
    from realm.models.encoders import GRUEncoder
    from realm.models.knowledge import EntityProvider
    from realm.models.module import TimeSeriesModel
    from realm.models.realm_model import RealmConfig, RealmModel

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    workdir = Path(args.workdir) if args.workdir else Path(args.out).with_suffix("")
    raw = Path(args.raw) if args.raw else write_synthetic_hospital(workdir / "raw", n_stays=args.n_stays,
                                                                      seed=args.seed)
    _, cohort_dir = prepare_cohort("synthetic", raw, workdir / "cohort", progress=False)
    t0 = time.perf_counter()
    meta = _extract(cohort_dir, args.kg)
    t_extract = time.perf_counter() - t0
    tasks = list(TASKS)
    provider = EntityProvider(source="mentions", kg=args.kg, embedder=args.embedder, node_dim=args.node_dim,
                              max_entities=args.max_entities)
    data = RealmDataModule(str(cohort_dir), tasks=tasks, batch_size=args.batch_size, seed=args.seed,
                           extra_modalities=[provider])
    data.setup()
    sizes = (data.n_features, data.n_variables, data.n_statics)

    def gru(f: int, v: int, s: int) -> GRUEncoder:
        return GRUEncoder(f, v, s, hidden=args.hidden, dropout=0.1)

    builders = {
        "realm": lambda: RealmModel(tasks, *sizes, encoder=gru, config=RealmConfig(
            hidden=args.hidden, node_dim=args.node_dim, modality_dropout=0.1)),
        "timeseries": lambda: TimeSeriesModel(tasks, *sizes, encoder=gru),
    }
    oracle = pd.read_parquet(cohort_dir / "oracle.parquet").set_index("stay_id")
    labels = pd.read_parquet(cohort_dir / "labels.parquet").set_index("stay_id")
    fits, training = {}, {}
    for name, build in builders.items():
        torch.manual_seed(args.seed)
        fits[name] = train_and_predict(build(), data, workdir / name, max_epochs=args.epochs,
                                       patience=args.patience, seed=args.seed)
        training[name] = {"epochs": fits[name].epochs, "seconds_per_epoch": fits[name].seconds_per_epoch}
    results: dict[str, Any] = {}
    for task in tasks:
        y = labels.loc[fits["realm"].probs.index, task]
        ids, y = y.index[y.notna()].to_numpy(), y.dropna().astype(int).to_numpy()
        results[task] = {"n_test": int(len(y)), "positive": int(y.sum()),
                         "oracle": auroc(y, oracle.loc[ids, f"risk_{task}"].to_numpy())}
        for name, fit in fits.items():
            results[task][name] = auroc(y, fit.probs.loc[ids, task].to_numpy())
        results[task]["realm_gap_to_oracle"] = results[task]["oracle"] - results[task]["realm"]
        results[task]["realm_minus_timeseries"] = results[task]["realm"] - results[task]["timeseries"]
    payload = {"benchmark": "synthetic", "n_stays": args.n_stays, "seed": args.seed, "auroc": results,
               "kg": meta["kg"], "extract_counts": meta["counts"], "extract_seconds": t_extract,
               "entities": {"nodes": len(provider.node_ids), "node_embedding_id": provider.node_embedding_id},
               "training": training, "wall_seconds": time.perf_counter() - started,
               "peak_rss_mb": peak_rss_mb(),
               "settings": {k: v for k, v in vars(args).items() if k not in ("func", "_module")}}
    write_json(Path(args.out), payload)
    lines = [f"{'task':<16}{'oracle':>8}{'realm':>8}{'ts-only':>9}"]
    lines += [f"{t:<16}{r['oracle']:>8.3f}{r['realm']:>8.3f}{r['timeseries']:>9.3f}" for t, r in results.items()]
    print("\n".join(lines) + f"\nwall {payload['wall_seconds']:.0f} s")  # noqa: T201 - the command's table
    return payload


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm bench synthetic`` arguments."""
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--n-stays", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="raw data, cohort, checkpoints (default: OUT without .json)")
    parser.add_argument("--raw", default=None, help="an existing `realm data synth` folder (skips synthesis)")
    parser.add_argument("--kg", default="default", help="KG for the lexicon and node vectors")
    parser.add_argument("--embedder", default="onnx")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--node-dim", type=int, default=128)
    parser.add_argument("--max-entities", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.set_defaults(func=lambda a: (run(a), 0)[1])
