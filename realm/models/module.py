"""LightningModules: the task base (loss, metrics, logging) and the time-series model.

``RealmTask`` owns the plumbing every model shares: multitask BCE-with-logits masked by
label availability, per-task AUROC/AUPRC per stage from one ``_shared_step``, the mean
validation AUROC over the tasks (``val/mean_auroc``, a checkpoint monitor), input checks and
``predict_step``. A concrete model only builds its layers and implements ``forward``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

import torch
import pytorch_lightning as pl
from torch import Tensor, nn
from torch.nn import functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision

from realm.errors import ConfigError, DataError
from realm.models.encoders import EncoderFactory, GRUEncoder

__all__ = ["RealmTask", "TimeSeriesModel", "MultitaskHead", "masked_bce", "check_finite", "LRSchedule",
           "MEAN_AUROC"]

STAGES = ("train", "val", "test")
CHECKED_INPUTS = ("values", "masks", "deltas", "statics")
#: Learning-rate schedules over the ``max_epochs`` of the run (per optimizer step).
LRSchedule = Literal["constant", "cosine", "onecycle"]
#: The mean validation AUROC over the tasks, logged every validation epoch: one multi-task
#: checkpoint cannot be chosen on one task's AUROC, and the validation loss keeps falling on
#: calibration after the ranking has stopped improving.
MEAN_AUROC = "val/mean_auroc"


def masked_bce(logits: Tensor, labels: Tensor, label_mask: Tensor,
               pos_weight: Tensor | None = None) -> Tensor:
    """Mean BCE-with-logits over defined labels only; logits, labels, mask (B, K)."""
    # NaN labels must be replaced, not just masked: NaN * 0 is still NaN.
    target = torch.where(label_mask, labels, torch.zeros_like(labels))
    loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight,
                                              reduction="none")  # (B, K)
    weight = label_mask.to(loss.dtype)
    return (loss * weight).sum() / weight.sum().clamp(min=1.0)


def check_finite(batch: dict[str, Tensor], keys: tuple[str, ...] = CHECKED_INPUTS) -> None:
    """Raise :class:`DataError` naming the stays whose inputs hold NaN or inf."""
    for key in keys:
        if key not in batch:
            continue
        x = batch[key]
        bad = ~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)  # (B,)
        if bad.any():
            ids = batch["stay_id"][bad].tolist() if "stay_id" in batch else bad.nonzero().tolist()
            raise DataError(f"non-finite values (NaN/inf) in input {key!r} of stays {ids[:10]}"
                            + (f" and {len(ids) - 10} more" if len(ids) > 10 else ""))


class MultitaskHead(nn.Module):
    """One logit per task from a shared representation: (B, D) -> (B, K)."""

    def __init__(self, in_dim: int, n_tasks: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, n_tasks)  # row k = the head of task k

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.dropout(x))  # (B, K)


class RealmTask(pl.LightningModule, ABC):
    """Base of every realm model: subclasses implement ``forward(batch) -> logits (B, K)``.

    Args:
        tasks: task names in the order of the label columns (linked from the data).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        pos_weight: per-task positive-class weight of the BCE loss (for rare outcomes).
        lr_schedule: ``constant`` (``lr`` throughout), ``cosine`` (from ``lr`` to 0 over
            the trainer's ``max_epochs``) or ``onecycle`` (warm up for 30% of the steps to
            ``lr``, then anneal).
    """

    def __init__(self, tasks: list[str], lr: float = 1e-3, weight_decay: float = 1e-4,
                 pos_weight: list[float] | None = None, lr_schedule: LRSchedule = "constant") -> None:
        super().__init__()
        if not tasks:
            raise ConfigError(f"{type(self).__name__}: tasks is empty")
        if lr_schedule not in ("constant", "cosine", "onecycle"):
            raise ConfigError(f"lr_schedule must be constant, cosine or onecycle, not {lr_schedule!r}")
        self.lr_schedule = lr_schedule
        if pos_weight is not None and len(pos_weight) != len(tasks):
            raise ConfigError(f"pos_weight has {len(pos_weight)} values for {len(tasks)} tasks")
        self.tasks = list(tasks)
        self.lr, self.weight_decay = lr, weight_decay
        self.register_buffer(
            "pos_weight", None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float32)
        )
        # Keys are "<stage>_metrics": a ModuleDict key "train" would shadow Module.train.
        self.metrics = nn.ModuleDict({
            f"{stage}_metrics": nn.ModuleDict({
                task: MetricCollection({"auroc": BinaryAUROC(), "auprc": BinaryAveragePrecision()},
                                       prefix=f"{stage}/{task}_")
                for task in self.tasks
            })
            for stage in STAGES
        })

    @abstractmethod
    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Logits (B, K) for the batch's stays, one column per task."""

    def _shared_step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        check_finite(batch)
        logits = self(batch)  # (B, K)
        labels, mask = batch["labels"], batch["label_mask"]  # (B, K)
        loss = masked_bce(logits, labels, mask, self.pos_weight)
        if not torch.isfinite(loss):
            raise ConfigError(f"{stage} loss is not finite at step {self.global_step}: training "
                              "diverged; lower model.init_args.lr")
        b = labels.shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=b, sync_dist=True,
                 on_step=stage == "train", on_epoch=True)
        probs = torch.sigmoid(logits.detach())
        for k, task in enumerate(self.tasks):
            defined = mask[:, k]
            if defined.any():
                collection = self.metrics[f"{stage}_metrics"][task]
                collection.update(probs[defined, k], labels[defined, k].long())
                # validation AUROC/AUPRC in the progress bar: the losses alone say little
                self.log_dict(collection, batch_size=int(defined.sum()), on_epoch=True,
                              on_step=False, prog_bar=stage == "val")
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def on_validation_epoch_end(self) -> None:
        metrics = [self.metrics["val_metrics"][t]["auroc"] for t in self.tasks]
        scores = [torch.as_tensor(m.compute(), dtype=torch.float32) for m in metrics if m.update_count]
        if scores:  # a task without a defined validation label has no AUROC
            self.log(MEAN_AUROC, torch.stack(scores).mean(), prog_bar=True)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """``stay_id`` (B,) and one probability column (B,) per task."""
        check_finite(batch)
        probs = torch.sigmoid(self(batch))  # (B, K)
        return {"stay_id": batch["stay_id"], **{t: probs[:, k] for k, t in enumerate(self.tasks)}}

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.lr_schedule == "constant":
            return optimizer
        steps = max(int(self.trainer.estimated_stepping_batches), 1)
        if self.lr_schedule == "cosine":
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        else:
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=steps,
                                                           pct_start=0.3)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class TimeSeriesModel(RealmTask):
    """Time series only: an encoder's pooled summary -> multitask head.

    Args:
        n_features, n_variables, n_statics: input sizes (linked from the DataModule).
        encoder: encoder class with its hyperparameters (``class_path`` + ``init_args``).
        head_dropout: dropout before the heads.
        lr, weight_decay, pos_weight, lr_schedule: optimisation (see RealmTask).
    """

    def __init__(
        self, tasks: list[str], n_features: int, n_variables: int, n_statics: int,
        encoder: EncoderFactory = GRUEncoder, head_dropout: float = 0.1,
        lr: float = 1e-3, weight_decay: float = 1e-4, pos_weight: list[float] | None = None,
        lr_schedule: LRSchedule = "constant",
    ) -> None:
        super().__init__(tasks, lr=lr, weight_decay=weight_decay, pos_weight=pos_weight,
                         lr_schedule=lr_schedule)
        self.save_hyperparameters(ignore=["encoder"])
        self.encoder = encoder(n_features, n_variables, n_statics)
        self.head = MultitaskHead(self.encoder.out_dim, len(self.tasks), head_dropout)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        _, pooled = self.encoder(batch["values"], batch["masks"], batch["deltas"],
                                 batch["statics"])  # (B, H)
        return self.head(pooled)  # (B, K)
