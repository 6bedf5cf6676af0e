"""Extraction recall against planted mentions: overlap rule, window notes only, groups."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from realm.bench.synthetic_recall import planted_recall
from realm.errors import DataError


def _hospital(tmp_path: Path) -> tuple[Path, Path, Path]:
    raw, cohort = tmp_path / "raw", tmp_path / "cohort"
    raw.mkdir()
    cohort.mkdir()
    pd.DataFrame([  # note 1 is in the window, note 2 is not
        (1, 0, 6, "sepsis", "ICD10CM:A41.9", "disease", "present"),        # train code of a held-out category
        (1, 10, 16, "MRSA s", "ICD10CM:A41.02", "disease", "present"),     # test code: not extracted
        (1, 20, 27, "febrile", "HP:0001945", "phenotype", "negated"),     # finding, overlapped partly
        (1, 30, 37, "Tylenol", "DRUG:acetaminophen", "drug", "present"),  # drug, not extracted
        (2, 0, 6, "sepsis", "ICD10CM:A41.9", "disease", "present"),        # outside the window
    ], columns=["NOTE_ROW_ID", "START", "END", "TEXT", "CONCEPT_ID", "CONCEPT_TYPE", "ASSERTION"]
    ).to_csv(raw / "NOTE_MENTIONS.csv", index=False)
    pd.DataFrame({"note_id": ["1"], "stay_id": [7], "hours": [1.0], "category": ["Nursing"],
                  "text": ["x"]}).to_parquet(cohort / "notes.parquet")
    mentions = tmp_path / "mentions.parquet"
    pd.DataFrame({"note_id": ["1", "1", None], "spans": [json.dumps([[0, 6]]), json.dumps([[25, 29]]), None],
                  "node_id": ["A", "B", "C"]}).to_parquet(mentions)
    return raw, cohort, mentions


def test_planted_recall_counts_overlaps_in_window_notes_by_group(tmp_path: Path) -> None:
    recall = planted_recall(*_hospital(tmp_path))
    assert recall["condition_train"] == {"n": 1, "recall": 1.0}
    assert recall["condition_test"] == {"n": 1, "recall": 0.0}
    assert recall["phenotype"] == {"n": 1, "recall": 1.0}  # [25, 29) overlaps [20, 27)
    assert recall["drug"] == {"n": 1, "recall": 0.0}
    assert recall["all"] == {"n": 4, "recall": 0.5}  # note 2 is outside the window


def test_planted_recall_needs_the_planted_mentions(tmp_path: Path) -> None:
    raw, cohort, mentions = _hospital(tmp_path)
    (raw / "NOTE_MENTIONS.csv").unlink()
    with pytest.raises(DataError, match="NOTE_MENTIONS.csv"):
        planted_recall(raw, cohort, mentions)
