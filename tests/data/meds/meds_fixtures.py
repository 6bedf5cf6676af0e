"""Small cohorts exported to MEDS, shared by the MEDS tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from realm.data.cohort import Cohort
from realm.data.meds import export_meds, load_mapping, read_meds
from realm.data.meds.mapping import MedsMapping, packaged_mapping
from realm.data.prepare import prepare_cohort
from realm.data.synth import write_synthetic_hospital
from tests.data.test_physionet2012 import tiny_root

ALL_TABLES = ("events", "notes", "medications")


def realm_mapping() -> MedsMapping:
    return load_mapping(packaged_mapping("realm_export"))


def synthetic_cohort(root: Path, n_stays: int = 60) -> Path:
    """A prepared synthetic-hospital cohort folder (``realm data synth`` + prepare)."""
    hospital = write_synthetic_hospital(root / "hospital", n_stays=n_stays, seed=0)
    return prepare_cohort("synthetic", hospital, root / "cohort", progress=False)[1]


def physionet_cohort(root: Path) -> Path:
    """The three-stay PhysioNet 2012 cohort of the reader's tests, prepared."""
    return prepare_cohort("physionet2012", tiny_root(root / "raw", as_tar=False), root / "cohort",
                          progress=False)[1]


def round_trip(cohort_dir: Path, meds_dir: Path) -> Cohort:
    """Export ``cohort_dir`` to ``meds_dir`` and read it back with realm's own mapping and
    the exported label files."""
    export_meds(cohort_dir, meds_dir)
    return read_meds(meds_dir, realm_mapping(), labels_dir=meds_dir / "labels", progress=False)


def sorted_table(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def as_us(series: pd.Series) -> np.ndarray:
    """Timestamps at MEDS's microsecond resolution, for comparisons."""
    return pd.to_datetime(series).to_numpy().astype("datetime64[us]")
