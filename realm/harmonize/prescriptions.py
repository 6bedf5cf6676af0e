"""PRESCRIPTIONS rows -> drug mentions, so ordered drugs join a stay's KG entity set.

    mentions = prescriptions_to_mentions(prescriptions, kg, stays=stays)
    mentions = prescriptions_to_mentions(cohort.medications, kg, window_hours=48)

Takes a raw PRESCRIPTIONS table or a cohort's ``medications`` table (``stay_id``, ``hours``,
``drug``: hours already relative to ICU admission, see realm.data.cohort). A raw table needs a ``DRUG`` column (MIMIC-III upper-case or MIMIC-IV lower-case ``drug`` both work)
and at least one of ``ICUSTAY_ID``/``stay_id`` or ``HADM_ID``/``hadm_id``. With ``stays``
(the cohort's stays table: ``stay_id``, ``hadm_id``, ``intime``) orders are attached to
stays by hospital admission when no ICU stay id is given, and ``hours`` is ``STARTDATE``
minus ICU ``intime`` (negative = ordered before the ICU stay). Without ``stays``, hours
are missing. With ``window_hours`` only orders known at or before it are kept (orders of
unknown time are dropped: they cannot be shown to precede the prediction time). Each distinct DRUG string is matched once by the KG backend; strings it
cannot match keep a null ``node_id`` (the row stays, so a later linker can try); a
combination product gives one row per ingredient node.

Output columns (one row per order and matched node): stay_id Int64, hadm_id Int64, hours float32, text,
type ("drug"), assertion ("present"), extractor ("prescriptions"), node_id, link_score.
"""

from __future__ import annotations

import pandas as pd

from realm.errors import DataError
from realm.harmonize.kg_backend import KGBackend
from realm.kg.graph import KnowledgeGraph

__all__ = ["prescriptions_to_mentions", "MENTION_COLUMNS"]

MENTION_COLUMNS = ("stay_id", "hadm_id", "hours", "text", "type", "assertion", "extractor", "node_id", "link_score")


def _column(frame: pd.DataFrame, *names: str) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _attach_stays(out: pd.DataFrame, stays: pd.DataFrame) -> pd.DataFrame:
    missing = {"stay_id", "hadm_id", "intime"} - set(stays.columns)
    if missing:
        raise DataError(f"stays table lacks columns {sorted(missing)}", field="stays")
    table = stays[["stay_id", "hadm_id", "intime"]].copy()
    table["stay_id"] = table["stay_id"].astype("Int64")
    table["hadm_id"] = table["hadm_id"].astype("Int64")
    # An admission with several ICU stays cannot say which stay an order belongs to by
    # hadm_id alone: such orders keep the stay id they came with (or none).
    unique = table.drop_duplicates("hadm_id", keep=False)
    by_hadm = unique.set_index("hadm_id")["stay_id"]
    need = out["stay_id"].isna() & out["hadm_id"].notna()
    out.loc[need, "stay_id"] = out.loc[need, "hadm_id"].map(by_hadm).astype("Int64")
    intime = table.drop_duplicates("stay_id").set_index("stay_id")["intime"]
    starts = out.pop("_start")
    hours = (starts - pd.to_datetime(out["stay_id"].map(intime))).dt.total_seconds() / 3600.0
    out["hours"] = hours.astype("float32")
    return out


def prescriptions_to_mentions(
    prescriptions: pd.DataFrame,
    kg: KnowledgeGraph | KGBackend,
    *,
    stays: pd.DataFrame | None = None,
    window_hours: float | None = None,
) -> pd.DataFrame:
    """One drug mention per prescription row (see the module notes for inputs and columns)."""
    drug = _column(prescriptions, "DRUG", "drug")
    if drug is None:
        raise DataError("prescriptions table has no DRUG column", field="DRUG")
    stay_col = _column(prescriptions, "ICUSTAY_ID", "icustay_id", "stay_id")
    hadm_col = _column(prescriptions, "HADM_ID", "hadm_id")
    if stay_col is None and hadm_col is None:
        raise DataError("prescriptions table needs ICUSTAY_ID/stay_id or HADM_ID/hadm_id", field="HADM_ID")
    start_col = _column(prescriptions, "STARTDATE", "starttime", "startdate")
    # A cohort medications table carries its hours (relative to ICU admission) already.
    timed = "hours" in prescriptions.columns and stay_col == "stay_id"
    backend = kg if isinstance(kg, KGBackend) else KGBackend(kg)

    texts = prescriptions[drug].astype("string")
    out = pd.DataFrame({
        "stay_id": pd.to_numeric(prescriptions[stay_col], errors="coerce").astype("Int64") if stay_col
        else pd.Series(pd.NA, index=prescriptions.index, dtype="Int64"),
        "hadm_id": pd.to_numeric(prescriptions[hadm_col], errors="coerce").astype("Int64") if hadm_col
        else pd.Series(pd.NA, index=prescriptions.index, dtype="Int64"),
        "text": texts,
    })
    if timed:
        out["hours"] = pd.to_numeric(prescriptions["hours"], errors="coerce").astype("float32")
    out["_start"] = pd.to_datetime(prescriptions[start_col], errors="coerce", format="mixed") if start_col else pd.NaT
    out = out[out["text"].notna() & (out["text"].str.strip() != "")].copy()
    matches = {t: backend.match_drug(t) for t in out["text"].unique()}
    # A combination product is one mention per ingredient node: both drugs were given.
    node = {t: (list(m.node_ids) if m and m.node_ids else [None]) for t, m in matches.items()}
    score = {t: (m.score if m and m.node_ids else None) for t, m in matches.items()}
    out["type"] = "drug"
    out["assertion"] = "present"
    out["extractor"] = "prescriptions"
    out["node_id"] = out["text"].map(node)
    out = out.explode("node_id")
    out["node_id"] = out["node_id"].astype("string")
    out["link_score"] = out["text"].map(score).astype("float64")
    if timed:
        out = out.drop(columns="_start")
    elif stays is not None:
        out = _attach_stays(out, stays)
    else:
        out = out.drop(columns="_start")
        out["hours"] = pd.Series(float("nan"), index=out.index, dtype="float32")
    if window_hours is not None:
        out = out[out["hours"].astype("float64") <= float(window_hours)]  # NaN compares False: dropped
    return out[list(MENTION_COLUMNS)].reset_index(drop=True)
