"""Extraction recall against the synthetic hospital's planted mentions (no labels involved).

The generator writes every mention it plants in a note to ``NOTE_MENTIONS.csv`` (note row,
character offsets, concept, type, assertion). A planted mention counts as *found* when an
extracted note mention of the same note overlaps its characters (whatever node it was linked
to and whatever assertion it got: this measures whether the extractor sees the mention at
all). Only notes inside the cohort's window count, since the extractor never reads the rest.
Groups: condition mentions by their code's role (``train`` codes: train/val notes of held-out
categories, ``test`` codes: test notes only, ``any``: the other categories), findings, drugs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from realm.data.synth_vocab import load_synth_vocab
from realm.errors import DataError

__all__ = ["planted_recall", "recall_groups"]

_PLANTED = ("NOTE_ROW_ID", "START", "END", "CONCEPT_ID", "CONCEPT_TYPE")


def recall_groups(planted: pd.DataFrame) -> pd.Series:
    """The group of each planted mention: ``condition_<role>``, or its concept type."""
    roles = {code.id: code.role for code in load_synth_vocab().codes.values()}
    role = planted["CONCEPT_ID"].map(roles)
    kind = planted["CONCEPT_TYPE"].astype(str)
    return pd.Series(np.where(role.notna(), "condition_" + role.fillna(""), kind), index=planted.index)


def _extracted_spans(mentions: pd.DataFrame) -> pd.DataFrame:
    """(note_id, start, end) of every extracted note mention, one row per span."""
    notes = mentions[mentions["note_id"].notna() & mentions["spans"].notna()]
    rows = [(str(note), int(s), int(e)) for note, spans in zip(notes["note_id"], notes["spans"])
            for s, e in (json.loads(spans) if isinstance(spans, str) else spans)]
    return pd.DataFrame(rows, columns=["note_id", "start", "end"])


def planted_recall(raw: Path, cohort_dir: Path, mentions_file: Path) -> dict[str, dict[str, float | int]]:
    """Per group: planted mentions in window notes (``n``) and the share found (``recall``)."""
    path = Path(raw) / "NOTE_MENTIONS.csv"
    if not path.is_file():
        raise DataError("missing: recall needs the synthetic hospital's planted mentions", path=path)
    planted = pd.read_csv(path, usecols=list(_PLANTED))
    window = set(pd.read_parquet(Path(cohort_dir) / "notes.parquet", columns=["note_id"])["note_id"].astype(str))
    planted = planted[planted["NOTE_ROW_ID"].astype(str).isin(window)].reset_index(drop=True)
    planted["note_id"] = planted["NOTE_ROW_ID"].astype(str)
    spans = _extracted_spans(pd.read_parquet(mentions_file, columns=["note_id", "spans"]))
    # overlap join per note: planted [START, END) meets extracted [start, end)
    pairs = planted.reset_index().merge(spans, on="note_id", how="inner")
    hit = pairs.loc[(pairs["start"] < pairs["END"]) & (pairs["end"] > pairs["START"]), "index"].unique()
    planted["found"] = planted.index.isin(hit)
    planted["group"] = recall_groups(planted)
    out: dict[str, dict[str, float | int]] = {}
    for group, frame in planted.groupby("group", sort=True):
        out[str(group)] = {"n": int(len(frame)), "recall": float(frame["found"].mean())}
    out["all"] = {"n": int(len(planted)), "recall": float(planted["found"].mean()) if len(planted) else float("nan")}
    return out
