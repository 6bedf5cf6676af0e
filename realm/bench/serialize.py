"""``realm bench serialize``: serialized records and note embeddings as features, on the synthetic hospital.

    realm bench serialize --out ser.json [--n-stays 2000 --seed 0 --formats list,markdown]

Settings: :class:`SerializeBenchConfig`, tuned values in ``configs/bench/serialize.yaml``.

Synthesize -> prepare -> extract (lexicon + dictionary links + findings + drug orders, as
``realm demo``; all cached) -> serialize every stay at the prediction time (list and Markdown,
token budget counted with the embedder's tokenizer) -> embed with the packaged int8 ONNX
MiniLM and a task instruction -> per task, a logistic-regression probe trained on the train
split, its C chosen on the validation split from ``c_grid``, scored on the test split
(AUROC with a subject-bootstrap 95% CI), and few-shot probes (k positives + k negatives drawn
from train, ``draws`` seeded draws, same C) as mean ± sd test AUROC.

With ``note_encoder`` (default on) the same probe runs on note embeddings: each note written
by the prediction time is encoded by :class:`~realm.features.notes.HFNoteEncoder` (the
packaged MiniLM through transformers, mean pooling, 256-token windows) and a stay is the mean
of its notes; throughput is reported in notes/s of CPU and wall time. The oracle (true risk)
AUROC on the same test stays is printed beside, as the ceiling.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realm.data.cohort import TASKS
from realm.errors import ConfigError

__all__ = ["SerializeBenchConfig", "run", "format_table", "probe_task", "fit_probe"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SerializeBenchConfig:
    """What ``realm bench serialize`` runs.

    Args:
        out: JSON with every figure.
        n_stays: synthetic ICU stays.
        seed: hospital, split and probe seed.
        kg: KG the entities are linked against.
        embedder: record embedder (realm.kg.embedders name or HF model).
        formats: serialization formats to compare.
        token_budget: tokens per record.
        shots: few-shot k (positives and negatives each).
        draws: seeded draws per few-shot k.
        c_grid: probe C values, chosen on the val split.
        n_resamples: bootstrap resamples for CIs.
        note_encoder: also probe MiniLM note embeddings (HFNoteEncoder).
        threads: torch threads for the note encoder.
    """

    out: Path
    n_stays: int = 2000
    seed: int = 0
    kg: str = "default"
    embedder: str = "onnx"
    formats: tuple[str, ...] = ("list", "markdown")
    token_budget: int = 256
    shots: tuple[int, ...] = (4, 8, 16, 32)
    draws: int = 20
    c_grid: tuple[float, ...] = (0.01, 0.1, 1.0)
    n_resamples: int = 1000
    note_encoder: bool = True
    threads: int = 2


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, c: float = 1.0) -> Any:
    """A standardised L2 logistic regression fitted on ``x_train`` (``predict_proba`` ready)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    return probe.fit(x_train, y_train)


def probe_task(vectors: np.ndarray, y: np.ndarray, split: np.ndarray, groups: np.ndarray, *,
               c_grid: Sequence[float], shots: Sequence[int], draws: int, n_resamples: int,
               seed: int) -> dict[str, Any]:
    """Probe one task: C by val AUROC, test AUROC with CI, few-shot mean ± sd (NaN labels left out)."""
    from realm.bench.common import score
    from realm.eval.metrics import auroc

    known = ~np.isnan(y)
    tr, va, te = (np.flatnonzero(known & (split == s)) for s in ("train", "val", "test"))
    yi = np.where(known, y, 0).astype(int)
    for name, rows in (("train", tr), ("val", va), ("test", te)):
        if len(np.unique(yi[rows])) < 2:
            raise ConfigError(f"the {name} split has one class only ({len(rows)} labelled stays); use more stays")
    val = {c: auroc(yi[va], fit_probe(vectors[tr], yi[tr], c).predict_proba(vectors[va])[:, 1]) for c in c_grid}
    best = max(c_grid, key=lambda c: (val[c], -c))  # ties go to the stronger regularisation
    probs = fit_probe(vectors[tr], yi[tr], best).predict_proba(vectors[te])[:, 1]
    test = score(yi[te], probs, groups[te], n_resamples=n_resamples, seed=seed)
    rng = np.random.default_rng(seed)
    pos, neg = tr[yi[tr] == 1], tr[yi[tr] == 0]
    few: dict[str, Any] = {}
    for k in shots:
        if k > min(len(pos), len(neg)):
            continue
        runs = [auroc(yi[te], fit_probe(vectors[rows], yi[rows], best).predict_proba(vectors[te])[:, 1])
                for rows in (np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, k, replace=False)])
                             for _ in range(draws))]
        few[str(k)] = {"mean": float(np.mean(runs)), "sd": float(np.std(runs, ddof=1)), "draws": draws}
    return {"n_train": int(len(tr)), "n_val": int(len(va)), "n_test": int(len(te)),
            "test_positive": int(yi[te].sum()), "c": best, "val_auroc_by_c": {str(c): v for c, v in val.items()},
            "test_auroc": test["auroc"], "test_auprc": test["auprc"], "few_shot": few}


def _note_vectors(cohort: Any, ids: list[int], threads: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Per stay, the mean MiniLM vector of its notes (zeros for a stay with none), and timing."""
    import torch

    from realm.features.notes import HFNoteEncoder, encode_cohort_notes

    torch.set_num_threads(threads)
    encoder = HFNoteEncoder("minilm", pooling="mean", max_length=256, stride=64, batch_size=16)
    notes = cohort.notes[cohort.notes["stay_id"].isin(ids) & (cohort.notes["hours"] <= cohort.meta["window_hours"])]
    wall, cpu = time.perf_counter(), time.process_time()
    arrays = encode_cohort_notes(cohort, encoder, per="note", stay_ids=ids)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    vectors = np.stack([a.mean(axis=0) if len(a) else np.zeros(encoder.dim, np.float32) for a in (arrays[s] for s in ids)])
    tokens = sum(len(encoder.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in notes["text"].astype(str))
    timing = {"notes": int(len(notes)), "tokens": int(tokens), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
              "notes_per_wall_s": round(len(notes) / wall, 2) if wall else None,
              "notes_per_cpu_s": round(len(notes) / cpu, 2) if cpu else None, "threads": threads,
              "note": "from the note-embedding cache when cpu_s is ~0 (a re-run)"}
    return vectors, timing


def run(cfg: SerializeBenchConfig) -> dict[str, Any]:
    """Run the benchmark; returns the JSON payload it wrote."""
    from realm.bench.common import score, write_json
    from realm.data.cohort import Cohort
    from realm.data.prepare import prepare_cohort
    from realm.pipeline.hospital import cached_hospital, cached_mentions
    from realm.kg.spec import load_kg
    from realm.features.record import RecordEncoder, load_mentions

    formats, shots, c_grid = list(cfg.formats), list(cfg.shots), list(cfg.c_grid)
    started, cpu0 = time.perf_counter(), time.process_time()
    _, cohort_dir = prepare_cohort("synthetic", cached_hospital(cfg.n_stays, cfg.seed), progress=False)
    cohort = Cohort.load(cohort_dir, tables=("events", "notes", "medications"))
    kg = load_kg(cfg.kg, progress=False)
    mentions = load_mentions(cached_mentions(cohort_dir, str(cohort.meta["cache_key"]), cfg.kg, kg.version,
                                             progress=False))
    # Orders are listed from the medications table (the DRUG strings); their linked copies in
    # the mentions table would only repeat them under KG names.
    mentions = mentions[mentions["extractor"] != "prescriptions"]
    stays = cohort.stays.set_index("stay_id")
    ids = [int(s) for s in stays.index]
    split = stays.loc[ids, "split"].to_numpy(dtype=object)
    groups = stays.loc[ids, "subject_id"].to_numpy()
    labels = cohort.labels.set_index("stay_id").loc[ids]
    oracle = cohort.oracle.set_index("stay_id").loc[ids] if cohort.oracle is not None else None
    payload: dict[str, Any] = {"command": " ".join(sys.argv), "n_stays": len(ids), "seed": cfg.seed,
                               "embedder": cfg.embedder, "token_budget": cfg.token_budget, "kg_version": kg.version,
                               "splits": {str(k): int(v) for k, v in pd.Series(split).value_counts().items()},
                               "features": {}}
    features: dict[str, np.ndarray] = {}
    for fmt in formats:
        encoder = RecordEncoder(cfg.embedder, fmt=fmt, token_budget=cfg.token_budget)
        texts = encoder.texts(cohort, ids, kg=kg, mentions=mentions, medications=cohort.medications)
        wall, cpu = time.perf_counter(), time.process_time()
        features[f"record_{fmt}"] = encoder.encode_texts(texts)
        words = np.array([len(t.split()) for t in texts])
        payload["features"][f"record_{fmt}"] = {
            "embed_wall_s": round(time.perf_counter() - wall, 1), "embed_cpu_s": round(time.process_time() - cpu, 1),
            "words_median": float(np.median(words)), "words_max": int(words.max())}
    if cfg.note_encoder:
        features["notes_minilm"], payload["features"]["notes_minilm"] = _note_vectors(cohort, ids, cfg.threads)
    results: dict[str, Any] = {}
    for task in TASKS:
        y = labels[task].astype("float64").to_numpy()
        results[task] = {name: probe_task(x, y, split, groups, c_grid=c_grid, shots=shots, draws=cfg.draws,
                                          n_resamples=cfg.n_resamples, seed=cfg.seed)
                         for name, x in features.items()}
        if oracle is not None:
            te = np.flatnonzero(~np.isnan(y) & (split == "test"))
            results[task]["oracle"] = {"test_auroc": score(y[te].astype(int), oracle[f"risk_{task}"].to_numpy()[te],
                                                           groups[te], n_resamples=cfg.n_resamples,
                                                           seed=cfg.seed)["auroc"]}
    payload.update(results=results, wall_s=round(time.perf_counter() - started, 1),
                   cpu_s=round(time.process_time() - cpu0, 1))
    write_json(Path(cfg.out), payload)
    return payload


def format_table(payload: dict[str, Any], out: Path) -> str:
    """Per task and feature set: test AUROC with its CI and the few-shot means; then timings."""
    lines = [f"{'task':<16}{'features':<18}{'n_test(pos)':>12}{'C':>6}{'test AUROC [95% CI]':>26}  few-shot k: mean±sd"]
    for task, per in payload["results"].items():
        for name, r in per.items():
            auc = r["test_auroc"]
            cell = f"{auc['value']:.3f} [{auc['ci95'][0]:.3f},{auc['ci95'][1]:.3f}]"
            if name == "oracle":
                lines.append(f"{task:<16}{name:<18}{'':>12}{'':>6}{cell:>26}")
                continue
            few = ", ".join(f"{k}: {v['mean']:.3f}±{v['sd']:.3f}" for k, v in r["few_shot"].items())
            lines.append(f"{task:<16}{name:<18}{r['n_test']:>7}({r['test_positive']:>3}){r['c']:>6g}{cell:>26}  {few}")
    for name, f in payload["features"].items():
        lines.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in f.items()))
    lines.append(f"wall {payload['wall_s']} s, cpu {payload['cpu_s']} s -> {out}")
    return "\n".join(lines)
