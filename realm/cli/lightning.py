"""``realm fit|validate|test|predict``: one LightningCLI over every RealmTask and DataModule.

    realm fit --config configs/physionet2012.yaml --data.init_args.cohort_dir DIR
    realm fit --config configs/synthetic.yaml --print_config

Sizes that depend on the data (n_features, n_variables, n_statics, node_dim, ...) and the
task list are linked from the DataModule into the model (realm.pipeline.train.RealmCLI), so
no YAML states them.
"""

from __future__ import annotations

from realm.pipeline.train import build_cli

__all__ = ["run_lightning_cli"]


def run_lightning_cli(argv: list[str]) -> None:
    """Run LightningCLI on ``argv`` (``["fit", "--config", ...]``)."""
    build_cli(argv, run=True)
