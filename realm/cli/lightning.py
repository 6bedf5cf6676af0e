"""``realm fit|validate|test|predict``: one LightningCLI over every RealmTask and DataModule.

    realm fit --config configs/physionet2012.yaml --data.init_args.cohort_dir DIR
    realm fit --config configs/synthetic.yaml --print_config

Sizes that depend on the data (n_features, n_variables, n_statics, node_dim, ...) and the
task list are linked from the DataModule into the model (realm.pipeline.train.RealmCLI), so
no YAML states them. Each run logs to ``runs/<model>/<start time>`` (set
``--trainer.logger.init_args.version`` to name it); ``predict`` writes
``predictions.parquet`` there and prints its path.
"""

from __future__ import annotations

import sys

from realm.cli import console_logging
from realm.eval.prediction_writer import PredictionWriter
from realm.pipeline.train import build_cli

__all__ = ["run_lightning_cli"]


def run_lightning_cli(argv: list[str]) -> None:
    """Run LightningCLI on ``argv`` (``["fit", "--config", ...]``)."""
    verbose = "-v" in argv or "--verbose" in argv
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    # realm's own INFO lines (data module, features, predictions) show as for other commands;
    # Lightning keeps its own handler.
    console_logging(verbose)
    cli = build_cli(argv, run=True)
    if cli.subcommand == "predict":
        for callback in cli.trainer.callbacks:
            if isinstance(callback, PredictionWriter) and callback.written is not None:
                sys.stdout.write(f"predictions: {callback.written}\n")
                for path in callback.written_meds:
                    sys.stdout.write(f"MEDS predictions: {path}\n")
