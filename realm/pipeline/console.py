"""What a training run prints: third-party noise filtered at its source, the logging interval
fitted to the data, and run folders named instead of numbered.

Only messages known to carry nothing for a realm user are filtered (by their text, so a new
warning still shows): Lightning's advertisement for its cloud logger, the deprecation that
Lightning's own pytree helper triggers in torch on every step, and the checkpoint callback's
note that a checkpoint was written from another folder (every ``realm test --ckpt_path``).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

__all__ = ["quiet_lightning", "LogInterval", "run_version", "name_csv_run"]

#: Regexes matched from the start of the third-party warnings filtered while Lightning runs.
_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"The dirpath has changed from",
    # jsonargparse's deprecations of the calls LightningCLI itself makes
    r"\s*(\S+ (parameter )?was deprecated in v4\.|By default only one JsonargparseDeprecationWarning)",
)
#: Lightning's INFO lines that only advertise.
_INFO_PREFIXES = ("💡 Tip:",)
#: The loggers Lightning's rank-zero messages go through.
_LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_INFO_PREFIXES)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Filter the known third-party noise of building and running a Trainer, for the
    duration of the block (the filters are removed afterwards)."""
    tips = _DropTips()
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    for logger in loggers:
        logger.addFilter(tips)
    try:
        with warnings.catch_warnings():
            for message in _WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(tips)


class LogInterval(pl.Callback):
    """Log training metrics at least once per epoch: ``log_every_n_steps`` is lowered to the
    number of training batches when an epoch has fewer (Lightning would warn and log none).

    Only how often metrics are logged changes, never what is trained.
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None:
            return
        # A fresh loader: its length is the batch count; building it draws no random number.
        batches = len(datamodule.train_dataloader())
        if 0 < batches < trainer.log_every_n_steps:
            trainer.log_every_n_steps = batches


def run_version(save_dir: str | Path, name: str, now: float | None = None) -> str:
    """A run folder name under ``save_dir/name``: the start time (``20261205-203015``), with
    ``-2``, ``-3``, ... when a run of the same second already has that folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    version, n = stamp, 1
    while (Path(save_dir) / name / version).exists():
        n += 1
        version = f"{stamp}-{n}"
    return version


def name_csv_run(logger: Any, model_class_path: str) -> None:
    """Fill a CSVLogger config's unset ``name`` (the model class, lower-cased) and ``version``
    (:func:`run_version`) in place: a named run folder instead of a new ``version_N``."""
    if not str(getattr(logger, "class_path", "")).endswith("CSVLogger"):
        return
    args = logger.init_args
    if args.get("name") is None:
        args["name"] = model_class_path.rsplit(".", 1)[-1].lower()
    if args.get("version") is None:
        args["version"] = run_version(args.get("save_dir") or ".", args["name"])
