"""Reading a shard in batches of whole subjects: the batches cover every subject once, and
the cohort does not depend on the batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.data.meds import read_meds
from realm.errors import DataError
from realm.data.meds.reader import subject_batches
from tests.data.meds.meds_fixtures import realm_mapping


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.integers(1, 100))
def test_batches_cover_each_subject_once_and_stay_small(sizes: list[int], batch_rows: int) -> None:
    ids = np.repeat(np.arange(len(sizes)) * 3 + 7, sizes)
    scan = pl.LazyFrame({"subject_id": ids})
    batches = subject_batches(scan, batch_rows)
    counts = pd.Series(ids).value_counts()
    covered = [s for first, last in batches for s in counts.index if first <= s <= last]
    assert sorted(covered) == sorted(counts.index)  # each subject in exactly one batch
    for first, last in batches:
        inside = counts[(counts.index >= first) & (counts.index <= last)]
        assert inside.sum() <= batch_rows or len(inside) == 1


def test_cohort_is_the_same_whatever_the_batch(synthetic_export: tuple[Path, Path]) -> None:
    _, meds = synthetic_export
    whole = read_meds(meds, realm_mapping(), progress=False)
    small = read_meds(meds, realm_mapping(), progress=False, batch_rows=500)
    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # categories in order of appearance differ
        out = frame.astype({c: "string" for c in frame.columns
                            if isinstance(frame[c].dtype, pd.CategoricalDtype)})
        return out.sort_values(list(out.columns[:3])).reset_index(drop=True)

    for name in ("stays", "events", "notes", "labels", "medications"):
        pd.testing.assert_frame_equal(plain(getattr(whole, name)), plain(getattr(small, name)))
    assert whole.quality.to_dict() == small.quality.to_dict()


def test_rows_without_a_subject_are_refused() -> None:
    scan = pl.LazyFrame({"subject_id": [1, None, 2, None]}, schema={"subject_id": pl.Int64})
    with pytest.raises(DataError, match="2 rows without a subject_id") as error:
        subject_batches(scan, 10, Path("data/train/0.parquet"))
    assert error.value.field == "subject_id"
