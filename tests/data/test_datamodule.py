"""RealmDataModule on a tiny generated cohort: batch layout, NA labels, extra modalities."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from realm.data.cohort import Cohort
from realm.data.datamodule import RealmDataModule
from realm.data.dataset import ModalityProvider, pad_sets
from realm.errors import ConfigError, DataError


def make_cohort(directory: Path, n: int = 30, seed: int = 0) -> Path:
    """n stays, 60/20/20 split; mortality follows heart rate; stay 0 has no labels at all."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) + 100
    split = np.array(["train"] * (n * 6 // 10) + ["val"] * (n * 2 // 10)
                     + ["test"] * (n - n * 8 // 10))
    stays = pd.DataFrame({
        "stay_id": ids, "subject_id": ids, "source": "test", "split": split,
        "age": rng.uniform(20, 90, n), "sex": rng.choice(["F", "M"], n),
        "icu_type": rng.choice(["MICU", "SICU"], n), "height": 170.0, "weight": 80.0,
        "los_hours": 60.0,
    })
    dead = np.arange(n) % 2
    rows = []
    for i, sid in enumerate(ids):
        for h in range(0, 12, 3):
            rows.append((sid, h + 0.5, "heart_rate", 70 + 50 * dead[i] + rng.normal(0, 5)))
        rows.append((sid, 1.0, "mech_vent", float(dead[i])))
    events = pd.DataFrame(rows, columns=["stay_id", "hours", "variable", "value"])
    mortality = pd.array(dead, dtype="Int8")
    readmit = pd.array(np.where(dead == 1, pd.NA, 0), dtype="Int8")
    mortality[0] = pd.NA
    labels = pd.DataFrame({"stay_id": ids, "mortality": mortality, "readmission_30d": readmit})
    notes = pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")})
    Cohort(stays=stays, events=events, notes=notes, labels=labels,
           meta={"source": "test", "window_hours": 12.0}).save(directory)
    return directory


@pytest.fixture()
def cohort_dir(tmp_path: Path) -> Path:
    return make_cohort(tmp_path / "cohort")


def test_batch_shapes_and_sizes(cohort_dir: Path) -> None:
    dm = RealmDataModule(str(cohort_dir), tasks=["mortality", "readmission_30d"],
                         batch_size=8, window_hours=12.0)
    assert (dm.n_variables, dm.n_tasks) == (2, 2)
    assert dm.n_features == 1 + 2  # heart_rate + mech_vent one-hot
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["values"].shape == (8, 12, dm.n_features)
    assert batch["masks"].shape == batch["deltas"].shape == (8, 12, 2)
    assert batch["statics"].shape == (8, dm.n_statics)
    assert batch["labels"].shape == batch["label_mask"].shape == (8, 2)
    assert batch["labels"].dtype == torch.float32 and batch["label_mask"].dtype == torch.bool
    assert torch.equal(batch["label_mask"], ~torch.isnan(batch["labels"]))
    assert batch["stay_id"].shape == (8,)


def test_all_na_stays_are_left_out_and_counted(cohort_dir: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    dm = RealmDataModule(str(cohort_dir), tasks=["mortality"], window_hours=12.0)
    with caplog.at_level(logging.INFO, logger="realm.data.datamodule"):
        dm.setup("fit")
    assert "train: 1 stays left out" in caplog.text
    assert dm.split_size("train") == 17 and dm.split_size("val") == 6
    seen = torch.cat([b["stay_id"] for b in dm.train_dataloader()])
    assert 100 not in seen.tolist() and len(seen) == 17
    # Both tasks: stay 100 still has a readmission label, so it stays in.
    both = RealmDataModule(str(cohort_dir), tasks=["mortality", "readmission_30d"],
                           window_hours=12.0)
    assert both.split_size("train") == 18
    assert both.split_size("predict") == 6


def test_shuffle_is_seeded(cohort_dir: Path) -> None:
    def order(seed: int) -> list[int]:
        dm = RealmDataModule(str(cohort_dir), batch_size=4, window_hours=12.0, seed=seed)
        return torch.cat([b["stay_id"] for b in dm.train_dataloader()]).tolist()

    assert order(1) == order(1)
    assert order(1) != order(2)


class CountProvider(ModalityProvider):
    """A toy modality: a set of (stay_id % 3) entity ids per stay."""

    name = "entities"

    def setup(self, cohort_dir: Path, stay_ids: np.ndarray) -> None:
        self.known = set(stay_ids.tolist())

    def get(self, stay_ids: list[int]) -> dict[str, torch.Tensor]:
        ids, mask = pad_sets([torch.arange(s % 3) for s in stay_ids])
        return {"ids": ids, "mask": mask}


def test_extra_modality_is_added_to_batches(cohort_dir: Path) -> None:
    dm = RealmDataModule(str(cohort_dir), batch_size=6, window_hours=12.0,
                         extra_modalities=[CountProvider()])
    batch = next(iter(dm.val_dataloader()))
    assert batch["entities_ids"].shape == (6, 2) and batch["entities_mask"].shape == (6, 2)
    lengths = batch["entities_mask"].sum(1).tolist()
    assert lengths == [s % 3 for s in batch["stay_id"].tolist()]


def test_bad_arguments_raise(cohort_dir: Path) -> None:
    with pytest.raises(ConfigError, match="tasks"):
        RealmDataModule(str(cohort_dir), tasks=["los"])
    with pytest.raises(DataError, match="no meta.json"):
        _ = RealmDataModule(str(cohort_dir / "missing")).n_features


def test_stays_without_split_are_left_out(cohort_dir: Path) -> None:
    stays = pd.read_parquet(cohort_dir / "stays.parquet")
    stays.loc[stays["stay_id"] == 101, "split"] = None
    stays.to_parquet(cohort_dir / "stays.parquet", index=False)
    dm = RealmDataModule(str(cohort_dir), window_hours=12.0)
    assert dm.split_size("train") == 16  # 18 train stays less 100 (no label) and 101


def _ids(dm: RealmDataModule, split: str) -> set[int]:
    return {int(s) for batch in dm._loader(split, shuffle=False) for s in batch["stay_id"]}


def test_cross_fitting_folds_cover_the_pooled_stays_and_leave_test_alone(cohort_dir: Path) -> None:
    dm = RealmDataModule(str(cohort_dir), window_hours=12.0, n_folds=3)
    own = {split: _ids(dm, split) for split in ("train", "val", "test")}
    pooled = own["train"] | own["val"]
    seen_val: list[set[int]] = []
    for fold in range(3):
        dm.use_fold(fold)
        train, val = _ids(dm, "train"), _ids(dm, "val")
        assert train | val == pooled and not train & val and val
        assert _ids(dm, "test") == own["test"]
        seen_val.append(val)
    # the folds partition the pool: every train/val stay validates exactly once
    assert sorted(s for v in seen_val for s in v) == sorted(pooled)
    assert seen_val[0] != own["val"] or seen_val[1] != own["val"]
    dm.use_fold(None)
    assert (_ids(dm, "train"), _ids(dm, "val")) == (own["train"], own["val"])
    with pytest.raises(ConfigError, match="val_fold"):
        dm.use_fold(3)


def test_cross_fitting_from_the_constructor_matches_use_fold(cohort_dir: Path) -> None:
    a = RealmDataModule(str(cohort_dir), window_hours=12.0, val_fold=1, n_folds=4, fold_seed=5)
    b = RealmDataModule(str(cohort_dir), window_hours=12.0, n_folds=4, fold_seed=5)
    b.use_fold(1)
    assert _ids(a, "val") == _ids(b, "val") and _ids(a, "train") == _ids(b, "train")
    with pytest.raises(ConfigError, match="val_fold"):
        RealmDataModule(str(cohort_dir), val_fold=4, n_folds=4)
