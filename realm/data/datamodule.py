"""The LightningDataModule every realm model trains on.

A batch is a dict (B stays, T bins, F features, V variables, S statics, K tasks)::

    values (B, T, F)  masks (B, T, V)  deltas (B, T, V)  statics (B, S)
    labels (B, K) float, NaN where a task's label is undefined   label_mask (B, K) bool
    stay_id (B,)      plus "<provider>_<key>" tensors of each extra modality

Stays whose labels are NA for every requested task are left out of train/val/test (and
counted in the log); prediction keeps every stay of the test split.

Cross-fitting (``val_fold``): the labelled train and val stays are pooled and dealt, whole
subjects at a time, into ``n_folds`` folds (stratified by any positive label); fold
``val_fold`` validates and the rest train. Models fitted on different folds and averaged
then train on every non-test stay between them, where a single split never trains on its
validation stays. The test split is untouched, and the tensors' normalization stays that of
the cohort's train split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from realm.data.cohort import TASKS
from realm.data.dataset import BatchCollator, ModalityProvider, StayDataset
from realm.data.discretize import DiscretizerConfig, Tensors, discretize_dir
from realm.errors import ConfigError, DataError

__all__ = ["RealmDataModule"]

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


class RealmDataModule(pl.LightningDataModule):
    """Discretized time series, labels and optional extra modalities of one cohort folder.

    Args:
        cohort_dir: a cohort folder written by ``realm data prepare`` or ``realm data synth``.
        tasks: label columns to predict, in head order.
        batch_size: stays per batch.
        bin_hours: width of a time bin.
        window_hours: prediction time, hours after ICU admission.
        variables: variables to use; default: those observed in the train split.
        scales: put variables on their ``variables.csv`` scale (log labs) before
            normalizing; False reads every value as is (ablation).
        num_workers: DataLoader worker processes.
        seed: seed of the training shuffle.
        extra_modalities: providers of further inputs (KG entity sets, note embeddings).
        cache_dir: cache root; default ``$REALM_CACHE`` or ``~/.cache/realm``.
        val_fold: cross-fitting: validate on this fold of the pooled train+val stays (None:
            the cohort's own split).
        n_folds: folds of the pooled train+val stays when ``val_fold`` is set.
        fold_seed: seed of the fold assignment (the same for every model of one ensemble).
    """

    def __init__(
        self,
        cohort_dir: str,
        tasks: list[str] = ["mortality"],  # noqa: B006 - copied below, never mutated
        batch_size: int = 64,
        bin_hours: float = 1.0,
        window_hours: float = 48.0,
        variables: list[str] | None = None,
        scales: bool = True,
        num_workers: int = 0,
        seed: int = 0,
        extra_modalities: list[ModalityProvider] | None = None,
        cache_dir: str | None = None,
        val_fold: int | None = None,
        n_folds: int = 5,
        fold_seed: int = 0,
    ) -> None:
        super().__init__()
        unknown = [t for t in tasks if t not in TASKS]
        if not tasks or unknown:
            raise ConfigError(f"tasks must be a non-empty subset of {list(TASKS)}; got {tasks}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, not {batch_size}")
        self.cohort_dir = cohort_dir
        self.tasks = list(tasks)
        self.batch_size = batch_size
        self.config = DiscretizerConfig(
            bin_hours=bin_hours, window_hours=window_hours,
            variables=tuple(variables) if variables is not None else None, scales=scales,
        )
        self.n_folds, self.fold_seed = n_folds, fold_seed
        self._own_split: dict[str, np.ndarray] = {}
        self._subject_ids = np.empty(0, dtype=np.int64)
        self._labels = np.empty((0, len(self.tasks)), dtype=np.float32)
        self.num_workers = num_workers
        self.seed = seed
        self.extra_modalities = list(extra_modalities or [])
        self.cache_dir = cache_dir
        self._tensors: Tensors | None = None
        self._collate: BatchCollator | None = None
        self._rows: dict[str, np.ndarray] = {}
        self.use_fold(val_fold)  # checks it; applied in setup()

    # -- sizes, for parser.link_arguments(apply_on="instantiate") ------------------------
    @property
    def tensors(self) -> Tensors:
        """The discretized cohort. Loaded lazily (from the cache when present) because the
        CLI reads the sizes below right after instantiation, before ``setup``."""
        if self._tensors is None:
            self._tensors = discretize_dir(self.cohort_dir, self.config, self.cache_dir)
        return self._tensors

    @property
    def n_features(self) -> int:
        return len(self.tensors.feature_names)

    @property
    def n_variables(self) -> int:
        return len(self.tensors.variable_names)

    @property
    def n_statics(self) -> int:
        return len(self.tensors.static_names)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    def _provided(self, name: str, attribute: str, absent: int) -> int:
        """``attribute`` of the extra modality called ``name``; ``absent`` without one (the
        model then never reads that part, so the value only has to be a valid size)."""
        for provider in self.extra_modalities:
            if provider.name == name:
                return int(getattr(provider, attribute))
        return absent

    @property
    def node_dim(self) -> int:
        """Width of an entity's node vector (EntityProvider.node_dim)."""
        return self._provided("entities", "node_dim", 128)

    @property
    def note_dim(self) -> int:
        """Width of a note embedding (NoteEmbeddingProvider.dim)."""
        return self._provided("notes", "dim", 384)

    @property
    def record_dim(self) -> int:
        """Width of a serialized-record embedding (RecordVectorProvider.dim)."""
        return self._provided("record", "dim", 384)

    @property
    def summary_factors(self) -> int:
        """Factor rows the summary modality appends (SummaryProvider.n_factors)."""
        return self._provided("summary", "n_factors", 0)

    @property
    def n_aux_targets(self) -> int:
        """Auxiliary target columns (AuxTargetProvider.n_targets)."""
        return self._provided("aux", "n_targets", 0)

    # -- Lightning hooks --------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Fill the tensor cache once (rank 0) so other ranks only read it."""
        discretize_dir(self.cohort_dir, self.config, self.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if self._collate is not None:
            return
        t = self.tensors
        stays = pd.read_parquet(Path(self.cohort_dir) / "stays.parquet",
                                columns=["stay_id", "subject_id", "split"])
        labels = pd.read_parquet(Path(self.cohort_dir) / "labels.parquet")
        missing = [task for task in self.tasks if task not in labels.columns]
        if missing:
            raise DataError(f"no label column for tasks {missing}",
                            path=Path(self.cohort_dir) / "labels.parquet")
        frame = pd.DataFrame({"stay_id": t.stay_ids})
        frame = frame.merge(stays, on="stay_id", how="left").merge(
            labels[["stay_id", *self.tasks]], on="stay_id", how="left")
        label_array = frame[self.tasks].astype("Float64").to_numpy(dtype="float32", na_value=np.nan)
        split = frame["split"].astype("string").fillna("").to_numpy(dtype=object)
        any_label = ~np.isnan(label_array).all(axis=1)
        no_split = ~np.isin(split, SPLITS)
        if no_split.any():
            log.warning("%d stays have no train/val/test split and are left out", no_split.sum())
        for name in SPLITS:
            in_split = split == name
            self._rows[name] = np.flatnonzero(in_split & any_label)
            dropped = int((in_split & ~any_label).sum())
            if dropped:
                log.info("%s: %d stays left out, no label for any of %s", name, dropped, self.tasks)
        self._own_split = {name: self._rows[name] for name in ("train", "val")}
        self._subject_ids, self._labels = frame["subject_id"].to_numpy(), label_array
        self.use_fold(self.val_fold)
        self._rows["predict"] = np.flatnonzero(split == "test")
        if len(self._rows["train"]) == 0:
            raise DataError(f"no labelled train stays for tasks {self.tasks}", path=self.cohort_dir)
        for provider in self.extra_modalities:
            provider.setup(Path(self.cohort_dir), t.stay_ids)
        arrays = {
            "stay_id": torch.from_numpy(t.stay_ids),
            "values": torch.from_numpy(t.values),
            "masks": torch.from_numpy(t.masks),
            "deltas": torch.from_numpy(t.deltas),
            "statics": torch.from_numpy(t.statics),
        }
        self._collate = BatchCollator(arrays, torch.from_numpy(label_array), self.extra_modalities)
        log.info("stays per split: %s", {k: len(v) for k, v in self._rows.items()})

    def use_fold(self, val_fold: int | None) -> None:
        """Validate on fold ``val_fold`` of the pooled labelled train+val stays from now on
        (None: the cohort's own split). Cheap: the tensors and modalities are kept, so one
        set-up module serves every model of a cross-fitted ensemble in turn."""
        from realm.data.splits import subject_folds

        if val_fold is not None and not 0 <= val_fold < self.n_folds:
            raise ConfigError(f"val_fold must be in [0, n_folds={self.n_folds}), not {val_fold}")
        self.val_fold = val_fold
        if not self._rows:  # not set up yet: setup() applies it
            return
        if val_fold is None:
            self._rows.update(self._own_split)
            return
        pool = np.sort(np.concatenate([self._own_split["train"], self._own_split["val"]]))
        positive = np.nan_to_num(self._labels[pool], nan=0.0).max(axis=1) == 1
        fold = subject_folds(self._subject_ids[pool], positive, self.n_folds, self.fold_seed)
        self._rows["train"], self._rows["val"] = pool[fold != val_fold], pool[fold == val_fold]
        log.info("cross-fitting: fold %d of %d validates (%d stays), %d train", self.val_fold,
                 self.n_folds, len(self._rows["val"]), len(self._rows["train"]))

    def split_size(self, split: str) -> int:
        """Number of stays the loader of ``split`` (train/val/test/predict) yields."""
        self.setup()
        return len(self._rows[split])

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            StayDataset(self._rows[split]), batch_size=self.batch_size, shuffle=shuffle,
            collate_fn=self._collate, num_workers=self.num_workers, generator=generator,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", shuffle=False)
