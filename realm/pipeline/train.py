"""Train a model: the one place a ``pl.Trainer`` is built (LightningCLI, configs from YAML).

    trained = fit(["bench/synthetic/realm.yaml", {"data": {"init_args": {"cohort_dir": d}}}],
                  {"seed_everything": 1, "trainer.max_epochs": 3})
    probs = predict(trained.model, trained.datamodule.test_dataloader())

``realm fit|validate|test|predict`` (realm.cli.lightning), ``realm demo`` and the model
benchmarks all go through :class:`RealmCLI`: the same links (every size the data decides is
linked from the DataModule into the model, never typed in YAML), callbacks and trainer
defaults. :func:`fit` runs it with ``run=False``, trains, and restores the weights of the best
checkpoint.
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from realm.config import config_path, merge_configs
from realm.data.datamodule import RealmDataModule
from realm.errors import ConfigError
from realm.eval.prediction_writer import PredictionWriter
from realm.models.module import RealmTask
from realm.pipeline.console import LogInterval, name_csv_run, quiet_lightning

__all__ = ["RealmCLI", "Trained", "fit", "predict", "merge_configs", "build_cli",
           "build_datamodule", "SIZE_LINKS"]

log = logging.getLogger(__name__)

#: DataModule properties linked into the model's init arguments after instantiation (a model
#: class without such an argument, e.g. TimeSeriesModel and node_dim, is left alone).
SIZE_LINKS = ("n_features", "n_variables", "n_statics", "node_dim", "note_dim", "record_dim",
              "summary_factors", "n_aux_targets")

ConfigSource = str | Path | Mapping[str, Any]


class CheckpointHparams(pl.Callback):
    """Keep in a checkpoint's hyperparameters only the init arguments of the model's class.

    Every size in :data:`SIZE_LINKS` is linked into every model's arguments, and LightningCLI
    records them all; ``realm test|predict --ckpt_path`` re-parses those records, and a size
    the class does not take (a TimeSeriesModel's ``node_dim``) would fail it.
    """

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        hparams = checkpoint.get("hyper_parameters")
        params = inspect.signature(type(pl_module).__init__).parameters
        if not hparams or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        for key in [k for k in hparams if not k.startswith("_") and k not in params]:
            del hparams[key]


class RealmCLI(LightningCLI):
    """LightningCLI with realm's links, callbacks and trainer defaults."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.init_args.tasks", "model.init_args.tasks")
        for name in SIZE_LINKS:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({
            "checkpoint.monitor": "val/loss",
            "checkpoint.mode": "min",
            "checkpoint.save_top_k": 1,
            "checkpoint.filename": "best-{epoch}",
            "early_stopping.monitor": "val/loss",
            "early_stopping.mode": "min",
            "early_stopping.patience": 5,
            "trainer.accelerator": "cpu",
            "trainer.devices": 1,
            "trainer.deterministic": True,
            "trainer.max_epochs": 20,
            "trainer.default_root_dir": "runs",
            "trainer.enable_progress_bar": True,
            "trainer.log_every_n_steps": 10,
            # name and version unset: filled in before instantiation (runs/<model>/<start time>)
            "trainer.logger": {
                "class_path": "pytorch_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": "runs"},
            },
        })

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        logger = config.get("trainer", {}).get("logger") if hasattr(config, "get") else None
        model = config.get("model") if hasattr(config, "get") else None
        if logger is not None and model is not None:
            name_csv_run(logger, str(getattr(model, "class_path", "model")))


def build_cli(args: list[str], run: bool) -> RealmCLI:
    """:class:`RealmCLI` over every RealmTask and DataModule on ``args``; ``run`` runs the
    subcommand that ``args`` starts with (``fit``, ``test``, ...)."""
    with quiet_lightning(), warnings.catch_warnings():
        # `realm fit ...` hands LightningCLI the argv that sys.argv also holds, on purpose.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return RealmCLI(
            RealmTask,
            RealmDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            trainer_defaults={"callbacks": [LogInterval(), PredictionWriter(), CheckpointHparams()]},
            args=args,
            run=run,
        )


@dataclass(frozen=True)
class Trained:
    """A fitted model (best checkpoint's weights restored, in eval mode) and what trained it."""

    model: RealmTask
    datamodule: RealmDataModule
    trainer: pl.Trainer
    checkpoint: Path | None
    epochs: int
    seconds: float

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)


def build_datamodule(configs: Sequence[ConfigSource]) -> RealmDataModule:
    """The DataModule of the LightningCLI ``configs``' ``data`` section (not set up), for
    several models of one run to share through ``fit(..., datamodule=...)``."""
    from jsonargparse import ArgumentParser

    data = merge_configs(configs).get("data")
    if data is None:
        raise ConfigError("the configs have no data section")
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(RealmDataModule, "data")
    try:
        return parser.instantiate(parser.parse_object({"data": data})).data  # type: ignore[no-any-return]
    except Exception as exc:  # jsonargparse raises its ArgumentError for any bad key or value
        raise ConfigError(f"data config: {exc}") from exc


def _nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"trainer.max_epochs": 3}`` -> ``{"trainer": {"max_epochs": 3}}``."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        *parents, last = key.split(".")
        level = nested
        for part in parents:
            level = level.setdefault(part, {})
        level[last] = value
    return nested


def _args(configs: Sequence[ConfigSource], overrides: Mapping[str, Any] | None) -> list[str]:
    args: list[str] = []
    # the overrides are one more config, so YAML types every value as a config file would
    for source in [*configs, *([_nested(overrides)] if overrides else [])]:
        text = yaml.safe_dump(dict(source), sort_keys=False) if isinstance(source, Mapping) else None
        args += ["--config", text if text is not None else str(config_path(source))]
    return args


def fit(configs: Sequence[ConfigSource], overrides: Mapping[str, Any] | None = None, *,
        datamodule: RealmDataModule | None = None, reseed: bool = False) -> Trained:
    """Build the model, data and trainer of the LightningCLI ``configs`` (YAML paths or names
    under ``configs/``, or mappings; later ones win) with ``overrides`` (dotted keys, e.g.
    ``{"trainer.max_epochs": 3}``), train, and restore the best checkpoint's weights.

    Args:
        datamodule: train on this (already set up) DataModule instead of a new one built from
            the configs; its sizes must be those the configs' data gives (they are linked from
            the configs' data). Several models of one benchmark share one prepared module.
        reseed: seed everything again (``seed_everything``) after the model is built, right
            before training, as the benchmarks always did; without it the run is exactly
            ``realm fit``'s.
    """
    cli = build_cli(_args(configs, overrides), run=False)
    model, trainer = cli.model, cli.trainer
    data = cli.datamodule if datamodule is None else datamodule
    if datamodule is not None:
        for name in ("n_features", "n_variables", "n_statics"):
            if getattr(datamodule, name) != getattr(cli.datamodule, name):
                raise ConfigError(f"the given datamodule's {name} ({getattr(datamodule, name)}) differs "
                                  f"from the configured data's ({getattr(cli.datamodule, name)})")
    if reseed:
        pl.seed_everything(cli.config["seed_everything"], workers=True, verbose=False)
    started = time.perf_counter()
    with quiet_lightning():
        trainer.fit(model, datamodule=data)
    seconds = time.perf_counter() - started
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:
        # weights_only=False: this run wrote the checkpoint a moment ago, and its hparams hold
        # config dataclasses that torch's weights-only unpickler refuses.
        state = torch.load(best, map_location="cpu", weights_only=False)
        model.load_state_dict(state["state_dict"])
    model.eval()
    return Trained(model, data, trainer, Path(best) if best else None, trainer.current_epoch, seconds)


def predict(model: RealmTask, loader: Any) -> pd.DataFrame:
    """P(task) of every stay ``loader`` yields: one column per task, indexed by stay id."""
    model.eval()
    parts = []
    with torch.no_grad():
        for batch in loader:
            out = model.predict_step(batch, 0)
            parts.append(pd.DataFrame({t: out[t].numpy() for t in model.tasks},
                                      index=out["stay_id"].numpy()))
    return pd.concat(parts)
