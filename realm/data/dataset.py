"""Batches of stays: the in-memory dataset, extra-modality providers and the collate rule.

The time series of every stay already sit in a few big arrays (:class:`Tensors`), so a
dataset item is just a row index and the collate function slices whole batches at once.
Further modalities (KG entity sets, note embeddings) plug in as :class:`ModalityProvider`
objects: each is set up once on the cohort and answers a whole batch of stay ids.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from realm.errors import DataError

__all__ = ["ModalityProvider", "StayDataset", "BatchCollator", "pad_sets"]


class ModalityProvider(ABC):
    """One extra input modality, keyed by stay id.

    Subclasses are named in YAML under ``data.init_args.extra_modalities`` (``class_path`` +
    ``init_args``). The DataModule calls :meth:`setup` once, then :meth:`get` per batch and
    adds each returned tensor to the batch as ``f"{name}_{key}"``. Variable-size sets are
    padded by the provider (see :func:`pad_sets`), so every value has the batch dimension
    first.
    """

    #: Prefix of this modality's keys in a batch, e.g. "entities".
    name: str = "modality"

    @abstractmethod
    def setup(self, cohort_dir: Path, stay_ids: np.ndarray) -> None:
        """Load or compute what :meth:`get` needs for these stays (may read caches)."""

    @abstractmethod
    def get(self, stay_ids: list[int]) -> dict[str, Tensor]:
        """Tensors of these stays, batch dimension first, in the order given."""


def pad_sets(items: list[Tensor], pad_value: float = 0) -> tuple[Tensor, Tensor]:
    """Pad per-stay sets (L_i, ...) to (B, L_max, ...) plus a bool mask (B, L_max).

    L_max is at least 1 so a batch of empty sets still has a well-formed shape.
    """
    if not items:
        raise DataError("pad_sets needs at least one item")
    longest = max(1, max(len(x) for x in items))
    tail = items[0].shape[1:]
    out = torch.full((len(items), longest, *tail), pad_value, dtype=items[0].dtype)
    mask = torch.zeros(len(items), longest, dtype=torch.bool)
    for i, x in enumerate(items):
        out[i, : len(x)] = x
        mask[i, : len(x)] = True
    return out, mask


class StayDataset(Dataset):
    """Rows of the DataModule's arrays that belong to one split (items are row indices)."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> int:
        return int(self.rows[i])


class BatchCollator:
    """Turn a list of row indices into a batch dict (a class, not a closure: picklable
    for worker processes and DDP spawn)."""

    def __init__(
        self, arrays: dict[str, Tensor], labels: Tensor, providers: list[ModalityProvider]
    ) -> None:
        self.arrays = arrays  # stay_id (N,), values (N,T,F), masks/deltas (N,T,V), statics (N,S)
        self.labels = labels  # (N, K) float, NaN where undefined
        self.providers = providers

    def __call__(self, rows: list[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(rows, dtype=torch.long)
        batch = {name: array[index] for name, array in self.arrays.items()}
        labels = self.labels[index]  # (B, K)
        batch["labels"] = labels
        batch["label_mask"] = ~torch.isnan(labels)  # (B, K) bool
        stay_ids = batch["stay_id"].tolist()
        for provider in self.providers:
            for key, value in provider.get(stay_ids).items():
                if value.shape[0] != len(rows):
                    raise DataError(
                        f"{type(provider).__name__}.get returned {key!r} with batch size "
                        f"{value.shape[0]}, expected {len(rows)}"
                    )
                batch[f"{provider.name}_{key}"] = value
        return batch
