"""``realm demo``: the whole pipeline on the built-in synthetic hospital, in one command.

    realm demo [--n-stays 1000] [--out runs/demo] [--seed 0] [--max-epochs 8]

Settings: :class:`DemoConfig`, read from ``configs/demo.yaml`` (the command line overrides
them); each neural model is a list of LightningCLI configs (``configs/demo/``) trained through
realm.pipeline.train.

Steps: synthesize the hospital (MIMIC-III layout) -> prepare the cohort -> build or reuse
the KG -> extract and link entities from the notes (the lexicon finds the spans; mentions of
``relink_types`` are linked by the method's retriever: dictionary, then dense retrieval from
the KG's Chroma index of those types + threshold + re-rank, as ``realm extract`` links; the
others keep the lexicon's dictionary match) -> train REALM
and the baselines (GRU on the time series, GBM, LR) -> evaluate with patient-level
bootstrap CIs -> ``report.html``. Prints a summary table with the oracle AUROC (the
synthetic true risk) and where the report is.

Every step's result is cached under ``$REALM_CACHE`` by a hash of its inputs' content,
its configuration and the code that computes it, so a second run only evaluates.

The output folder holds what the next command needs, and ``demo.json`` names it: the cohort
(``cohort/``, with the mentions as ``cohort/mentions.parquet``), each neural model's
LightningCLI config with these paths filled in (``realm.yaml``, ``gru.yaml``: ``realm fit
--config OUT/realm.yaml``), its best checkpoint (``checkpoints/``), the KG's spec and version,
the predictions, the metrics and the report. :func:`next_commands` are the commands to go on.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from realm.cache import atomic_dir, config_hash, inputs_digest, stage_dir
from realm.data.cohort import TASKS
from realm.errors import ConfigError
from realm.extract.mentions_table import META_FILE, MENTIONS_FILE, mentions_meta
from realm.pipeline.hospital import cached_hospital, cached_mentions, code_digest

__all__ = ["DemoConfig", "run_demo", "next_commands", "linking_note", "MODEL_CONFIGS"]

log = logging.getLogger(__name__)

_CHECKPOINT = "best.ckpt"
#: neural model -> the runnable config the demo leaves in its output folder
MODEL_CONFIGS = {"REALM": "realm.yaml", "GRU": "gru.yaml"}


def linking_note(linking: dict[str, Any]) -> str:
    """How the demo linked its entities, from the ``linking`` record of ``mentions_meta.json``."""
    index = linking.get("index")
    if index is None:
        return ("Entities: lexicon extractor over the KG's names and synonyms; each mention is "
                "linked by the exact dictionary match, plus lab/vital findings.")
    outcome = linking.get("outcome", {})
    return (f"Entities: lexicon extractor over the KG's names and synonyms; its "
            f"{', '.join(linking['relink_types'])} mentions ({linking['linked_by_linker']}) linked by the "
            f"dense linker (dictionary, then Chroma retrieval + threshold + re-rank over "
            f"{index['entries']:,} names of types {', '.join(index['types'])}, {index['embedder']}): "
            f"{outcome.get('kept', 0)} kept the lexicon's node, {outcome.get('changed', 0)} changed, "
            f"{outcome.get('abstained', 0)} abstained; the other types by exact dictionary match; "
            "plus lab/vital findings.")


@dataclass(frozen=True)
class DemoConfig:
    """What ``realm demo`` runs (``configs/demo.yaml``; the command line overrides it).

    Attributes:
        n_stays: ICU stays to synthesize.
        out: output folder.
        seed: one seed for every step.
        max_epochs: training epochs (early stopping on the validation loss).
        kg: built-in KG name or a KG spec YAML.
        embedder: text embedder of the KG node vectors and of the linker's index (onnx,
            minilm, hashing).
        relink_types: node types whose mentions the dense linker links through the KG's
            Chroma index (indexed on first use, only these types: the drug vocabulary's 23k
            names take ~3.5 minutes on 2 cores, the whole KG's 154k 7-8; BENCHMARKS.md).
        n_resamples: patient-level bootstrap resamples.
        explain_top, explain_random: REALM explanations of the highest-risk and of randomly
            drawn test stays per task.
        progress: progress bars.
        realm, gru: LightningCLI configs of the two neural models.
    """

    n_stays: int = 1000
    out: Path = Path("runs/demo")
    seed: int = 0
    max_epochs: int = 8
    kg: str = "default"
    embedder: str = "onnx"
    relink_types: tuple[str, ...] = ("drug", "drug_class")
    n_resamples: int = 1000
    explain_top: int = 4
    explain_random: int = 3
    progress: bool = True
    realm: tuple[str, ...] = ("demo/realm.yaml",)
    gru: tuple[str, ...] = ("demo/gru.yaml",)

    def check(self) -> None:
        if self.n_stays < 20:
            raise ConfigError(f"--n-stays must be at least 20 (train/val/test), got {self.n_stays}")
        if self.max_epochs < 1 or self.n_resamples < 1:
            raise ConfigError("--max-epochs and --n-resamples must be positive")


class _Steps:
    """A step-level progress bar (the long steps show their own bars beneath it)."""

    def __init__(self, names: list[str], enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=len(names), desc="realm demo", unit="step", disable=not enabled,
                        position=0, leave=True)
        self.started = time.perf_counter()

    def start(self, name: str) -> None:
        self.bar.set_postfix_str(name)
        log.info("demo: %s", name)

    def done(self) -> None:
        self.bar.update(1)

    def close(self) -> float:
        self.bar.close()
        return time.perf_counter() - self.started


def _model_config(cfg: DemoConfig, name: str, cohort_dir: Path, mentions: Path | None) -> dict[str, Any]:
    """The configured model ``name`` (REALM or GRU) with this run's cohort, mentions, KG,
    embedder, seed, epochs and log folder filled in."""
    from realm.config import merge_configs

    config = merge_configs(cfg.realm if name == "REALM" else cfg.gru)
    config["seed_everything"] = cfg.seed
    data = config.setdefault("data", {}).setdefault("init_args", {})
    data.update(cohort_dir=str(cohort_dir), tasks=list(TASKS), seed=cfg.seed)
    for provider in data.get("extra_modalities") or []:
        if str(provider.get("class_path", "")).endswith("EntityProvider"):
            if mentions is None:
                raise ConfigError(f"{name} reads entities: it needs the mentions table")
            provider.setdefault("init_args", {}).update(mentions_file=str(mentions), kg=cfg.kg,
                                                        embedder=cfg.embedder, seed=cfg.seed)
    config.setdefault("trainer", {}).update(
        max_epochs=cfg.max_epochs, enable_progress_bar=cfg.progress,
        logger={"class_path": "pytorch_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": str(cfg.out / "training" / "lightning"), "name": name}})
    return config


def _train_neural(cfg: DemoConfig, name: str, cohort_dir: Path, mentions: Path | None,
                  explain: bool) -> tuple[Any, Any, Path | None]:
    """Train, restore the best checkpoint, predict the test split; returns the predictions
    table, with ``explain`` explanations of the highest-risk and of randomly drawn
    (``seed``) test stays of every task (their KG paths read from the KG), and the best
    checkpoint."""
    import pandas as pd

    from realm.eval.explain import Explanations, explain_stays, select_stays
    from realm.eval.predictions import predictions_frame
    from realm.kg.spec import load_kg
    from realm.pipeline.train import fit, predict

    trained = fit([_model_config(cfg, name, cohort_dir, mentions)])
    probs = predict(trained.model, trained.datamodule.predict_dataloader())
    predictions = predictions_frame(probs.index.to_numpy(), {t: probs[t].to_numpy() for t in TASKS},
                                    cohort_dir, name)
    explanations = None
    if explain:
        mentions_table = pd.read_parquet(mentions) if mentions is not None else None
        kg = load_kg(cfg.kg, progress=False)
        explanations = Explanations.concat([
            explain_stays(trained.model, trained.datamodule,
                          select_stays(predictions, task, name, cfg.explain_top, cfg.explain_random,
                                       seed=cfg.seed),
                          task, model_name=name, kg=kg, mentions=mentions_table)
            for task in TASKS])
    return predictions, explanations, trained.checkpoint


def _trained(cfg: DemoConfig, name: str, cohort_dir: Path, cohort_key: str, mentions: Path | None,
             explain: bool) -> tuple[Any, Any, Path]:
    """Predictions (and explanations) of one neural model and its best checkpoint, from the
    cache when possible."""
    import pandas as pd

    from realm.eval.explain import Explanations

    spec = _model_config(cfg, name, Path("cohort"), mentions and Path("mentions"))
    for where in ("logger", "enable_progress_bar"):  # where the run logs is no input
        spec["trainer"].pop(where)
    key = config_hash("neural", spec, cohort_key, None if mentions is None else inputs_digest([mentions]),
                      (cfg.explain_top, cfg.explain_random) if explain else None,
                      code_digest("models", "features", "data/datamodule.py", "data/dataset.py", "data/discretize.py",
                                  "eval/explain.py", "eval/occlusion.py", "eval/concepts.py", "eval/predictions.py",
                                  "pipeline/train.py", "pipeline/demo.py"))
    folder = stage_dir("demo_models", key)
    if not (folder / "predictions.parquet").is_file():
        with atomic_dir(folder) as tmp:
            preds, ex, checkpoint = _train_neural(cfg, name, cohort_dir, mentions, explain)
            preds.to_parquet(tmp / "predictions.parquet", index=False)
            if ex is not None:
                ex.save(tmp / "explanations")
            if checkpoint is None:
                raise ConfigError(f"{name}: training kept no checkpoint (the demo's configs must "
                                  "keep the checkpoint callback)")
            shutil.copyfile(checkpoint, tmp / _CHECKPOINT)
    ex_dir = folder / "explanations"
    return (pd.read_parquet(folder / "predictions.parquet"),
            Explanations.load(ex_dir) if ex_dir.is_dir() else None, folder / _CHECKPOINT)


def _tabular(cfg: DemoConfig, cohort_dir: Path, cohort_key: str) -> list[Any]:
    """GBM and LR predictions of the test split, fitted once per cohort and seed (cached)."""
    import pandas as pd

    from realm.pipeline.baselines import tabular_predictions

    key = config_hash("tabular", cohort_key, cfg.seed, list(TASKS),
                      code_digest("pipeline/baselines.py", "features/tabular.py", "models/baselines.py",
                                  "eval/predictions.py"))
    folder = stage_dir("demo_tabular", key)
    if not (folder / "predictions.parquet").is_file():
        with atomic_dir(folder) as tmp:
            frames = tabular_predictions(cohort_dir, list(TASKS), cfg.seed)
            pd.concat(frames, ignore_index=True).to_parquet(tmp / "predictions.parquet", index=False)
    table = pd.read_parquet(folder / "predictions.parquet")
    return [frame.reset_index(drop=True) for _, frame in table.groupby("model", sort=False)]


def _copy(source: Path, target: Path) -> Path:
    """``source`` (file or folder) copied to ``target``, replacing what was there."""
    if target.is_dir():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    return target


def _write_model_config(cfg: DemoConfig, name: str, cohort: Path, entities: bool) -> Path:
    """The model's config with the output folder's cohort (and, with ``entities``, the
    mentions beside it) filled in, as YAML that ``realm fit --config`` runs (logging under
    ``OUT/runs``)."""
    import yaml

    out = Path(cfg.out)
    # the mentions file is named relative to the cohort folder, as the entity provider reads it
    config = _model_config(cfg, name, cohort, Path(MENTIONS_FILE) if entities else None)
    config["trainer"]["logger"] = {"class_path": "pytorch_lightning.loggers.CSVLogger",
                                  "init_args": {"save_dir": str(out / "runs"), "name": name.lower()}}
    config["trainer"].pop("enable_progress_bar")  # the user's run shows its bar (--no-progress was the demo's)
    path = out / MODEL_CONFIGS[name]
    path.write_text(f"# {name} as `realm demo` trained it: realm fit --config {path}\n"
                    "# (cohort and mentions from the demo's output folder; KG "
                    f"{cfg.kg}, seed {cfg.seed})\n" + yaml.safe_dump(config, sort_keys=False))
    return path


def next_commands(cfg: DemoConfig, files: dict[str, Any], stay_id: int) -> list[str]:
    """The commands that go on from a demo's output ``files`` (``demo.json``'s): retrain REALM
    from its config, evaluate the demo's predictions again (same resamples and seed, so the
    same numbers), print ``stay_id``'s record as text."""
    predictions = files["predictions"]
    evaluate = ["realm", "evaluate", "--predictions", predictions["REALM"], "--baselines",
                *(p for m, p in predictions.items() if m != "REALM"),
                "--out", str(Path(cfg.out) / "evaluate"), "--n-resamples", str(cfg.n_resamples),
                "--seed", str(cfg.seed)]
    if files.get("explanations"):
        evaluate += ["--explanations", files["explanations"]]
    return [shlex.join(["realm", "fit", "--config", files["configs"]["REALM"]]), shlex.join(evaluate),
            shlex.join(["realm", "serialize", "--cohort", files["cohort"], "--stay", str(stay_id)])]


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run every step; returns the evaluation record (also written as metrics.json)."""
    from realm.data.prepare import prepare_cohort
    from realm.eval.run import run_evaluate
    from realm.pipeline.baselines import ORACLE_NAME, oracle_predictions
    from realm.eval.predictions import write_predictions
    from realm.kg.spec import kg_identity

    cfg.check()
    steps = _Steps(["hospital", "cohort", "KG", "entities", "REALM", "GRU", "GBM/LR",
                    "evaluate"], cfg.progress)
    steps.start(f"synthetic hospital ({cfg.n_stays} stays)")
    raw = cached_hospital(cfg.n_stays, cfg.seed)
    steps.done()
    steps.start("cohort")
    cohort, cohort_dir = prepare_cohort("synthetic", raw, progress=cfg.progress)
    cohort_key = str(cohort.meta["cache_key"])
    steps.done()
    steps.start(f"knowledge graph {cfg.kg!r}")
    # name and version only: a step that misses its cache loads the graph itself
    kg = kg_identity(cfg.kg, progress=cfg.progress)
    steps.done()
    steps.start("entity extraction and linking")
    mentions = cached_mentions(cohort_dir, cohort_key, cfg.kg, kg.version, cfg.progress,
                               relink_types=cfg.relink_types, embedder=cfg.embedder)
    linking = (mentions_meta(mentions) or {}).get("linking", {})
    steps.done()
    frames, explanations, checkpoints = [], None, {}
    for name in ("REALM", "GRU"):
        steps.start(f"training {name}")
        entities = name == "REALM"
        preds, ex, checkpoints[name] = _trained(cfg, name, cohort_dir, cohort_key,
                                                mentions if entities else None, explain=entities)
        frames.append(preds)
        explanations = explanations if ex is None else ex
        steps.done()
    steps.start("GBM and LR baselines")
    frames += _tabular(cfg, cohort_dir, cohort_key)
    frames.append(oracle_predictions(cohort_dir, list(TASKS)))
    steps.done()

    steps.start("evaluation and report")
    out = Path(cfg.out)
    files = [write_predictions(f, out / "predictions" / f"{f['model'].iloc[0].split()[0]}.parquet")
             for f in frames]
    ex_dir = None
    if explanations is not None:
        ex_dir = explanations.save(out / "explanations")
    record = run_evaluate(files[0], out, baselines=files[1:], explanations=ex_dir,
                          n_resamples=cfg.n_resamples, seed=cfg.seed,
                          title=f"realm demo: synthetic hospital, {cfg.n_stays} stays",
                          notes=[linking_note(linking), f"KG {kg.name} version {kg.version}; "
                                 f"{ORACLE_NAME} is the simulator's risk, the ceiling of any model."])
    steps.done()
    record["files"] = {**_chain(cfg, cohort_dir, mentions, checkpoints, files),
                       "explanations": None if ex_dir is None else str(ex_dir)}
    record["kg"] = {"spec": cfg.kg, "name": kg.name, "version": kg.version}
    record["linking"] = linking
    record["example_stay"] = int(frames[0]["stay_id"].iloc[0])  # a test stay of REALM's
    record["wall_seconds"] = steps.close()
    (out / "demo.json").write_text(json.dumps({
        "config": {k: str(v) for k, v in asdict(cfg).items()}, "kg": record["kg"], "linking": linking,
        "files": record["files"], "next": next_commands(cfg, record["files"], record["example_stay"]),
        "wall_seconds": record["wall_seconds"]}, indent=1))
    return record


def _chain(cfg: DemoConfig, cohort_dir: Path, mentions: Path, checkpoints: dict[str, Path],
           predictions: list[Path]) -> dict[str, Any]:
    """Copy into the output folder what the next command needs; returns the paths by role."""
    out = Path(cfg.out)
    cohort = _copy(cohort_dir, out / "cohort")
    # beside the cohort, where `realm fit` configs and `realm serialize` look for it; its
    # metadata first, as extraction publishes them (the table names the metadata it belongs to)
    _copy(mentions.with_name(META_FILE), cohort / META_FILE)
    mentions_copy = _copy(mentions, cohort / MENTIONS_FILE)
    return {
        "cohort": str(cohort), "mentions": str(mentions_copy),
        "configs": {name: str(_write_model_config(cfg, name, cohort, entities=name == "REALM"))
                    for name in MODEL_CONFIGS},
        "checkpoints": {name: str(_copy(path, out / "checkpoints" / f"{name}.ckpt"))
                        for name, path in checkpoints.items()},
        "predictions": {p.stem: str(p) for p in predictions},
        "metrics": str(out / "metrics.json"), "report": str(out / "report.html"),
    }
