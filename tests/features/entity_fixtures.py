"""A three-stay cohort (train, val, test) for EntityProvider tests; mentions are added by each test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from realm.data.cohort import Cohort

STAY_IDS = np.array([1, 2, 3])


def save_three_stays(folder: Path, events: pd.DataFrame) -> Path:
    """Stays 1, 2, 3 in splits train, val, test with ``events`` and no notes; returns ``folder``."""
    stays = pd.DataFrame({"stay_id": STAY_IDS, "subject_id": STAY_IDS, "source": "test",
                          "split": ["train", "val", "test"], "age": 60.0, "sex": "F", "icu_type": "MICU",
                          "height": 170.0, "weight": 80.0, "los_hours": 60.0})
    labels = pd.DataFrame({"stay_id": STAY_IDS, "mortality": pd.array([1, 0, 1], dtype="Int8"),
                           "readmission_30d": pd.array([0, 0, 1], dtype="Int8")})
    notes = pd.DataFrame({c: [] for c in ("note_id", "stay_id", "hours", "category", "text")})
    Cohort(stays=stays, events=events, notes=notes, labels=labels, meta={"source": "test"}).save(folder)
    return folder
