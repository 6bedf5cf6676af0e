"""``realm fit|validate|test|predict``: one LightningCLI over every RealmTask and DataModule.

    realm fit --config configs/physionet2012.yaml --data.init_args.cohort_dir DIR
    realm fit --config configs/synthetic.yaml --print_config

Sizes that depend on the data (n_features, n_variables, n_statics) and the task list are
linked from the DataModule into the model, so no YAML states them.
"""

from __future__ import annotations

import warnings

from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from realm.data.datamodule import RealmDataModule
from realm.models.module import RealmTask

__all__ = ["RealmCLI", "run_lightning_cli"]

#: DataModule properties linked into every model's init arguments after instantiation.
SIZE_LINKS = ("n_features", "n_variables", "n_statics")


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
            "trainer.logger": {
                "class_path": "pytorch_lightning.loggers.CSVLogger",
                "init_args": {"save_dir": "runs", "name": "realm"},
            },
        })


def run_lightning_cli(argv: list[str]) -> None:
    """Run LightningCLI on ``argv`` (``["fit", "--config", ...]``)."""
    with warnings.catch_warnings():
        # `realm fit ...` hands LightningCLI the argv that sys.argv also holds, on purpose.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        RealmCLI(
            RealmTask,
            RealmDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            args=argv,
        )
