"""The mentions table (``mentions.parquet``) and the entity sets the models read from it.

One row per mention, linked or not; note mentions and time-series findings share the
columns, so a stay's entities come from one table whatever found them::

    stay_id* int64, note_id string (NA for time-series findings), hours float32 (note time,
    or the first abnormal hour of a finding), text string, spans string (JSON list of
    [start, end]), type string, assertion string, section string, extractor string,
    confidence float64, node_id string (NA: not linked), link_score float64, concept_id string
    (NA: not linked, or a table written before concepts), codes string (JSON list of the
    concept's node ids, representative first; NA when not linked)

Entity sets key on (concept, assertion), the concept being ``concept_id`` where the linker
filled it and ``node_id`` otherwise: two codes of one concept are one entity, and a negated and
a present mention of it stay separate entries, so "no pneumonia" can never look like pneumonia
to the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import pandas as pd

from realm.errors import DataError
from realm.records import Assertion, EntitySet, Mention

__all__ = ["MENTION_COLUMNS", "mentions_frame", "conform_mentions", "entity_sets"]

MENTION_COLUMNS: dict[str, str] = {
    "stay_id": "int64",
    "note_id": "string",
    "hours": "float32",
    "text": "string",
    "spans": "string",
    "type": "string",
    "assertion": "string",
    "section": "string",
    "extractor": "string",
    "confidence": "float64",
    "node_id": "string",
    "link_score": "float64",
    "concept_id": "string",
    "codes": "string",
}


def conform_mentions(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the mention columns first, in their dtypes (extra columns kept after)."""
    out = frame.copy()
    for col, dtype in MENTION_COLUMNS.items():
        if col not in out.columns:
            out[col] = pd.Series(None, index=out.index, dtype=dtype)
        try:
            out[col] = out[col].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise DataError(f"cannot cast to {dtype} ({exc})", field=f"mentions.{col}") from exc
    extra = [c for c in out.columns if c not in MENTION_COLUMNS]
    return out[list(MENTION_COLUMNS) + extra].reset_index(drop=True)


def mentions_frame(mentions: Iterable[Mention], note_hours: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Mentions as table rows; ``hours`` comes from ``note_hours[note_id]``."""
    note_hours = note_hours or {}
    rows = []
    for m in mentions:
        if m.stay_id is None:
            raise DataError(f"mention from {m.extractor!r} in note {m.note_id!r} has no stay_id", field="stay_id")
        rows.append({
            "stay_id": m.stay_id,
            "note_id": m.note_id,
            "hours": note_hours.get(m.note_id) if m.note_id is not None else None,
            "text": m.text,
            "spans": json.dumps([list(s) for s in m.spans]),
            "type": m.type,
            "assertion": m.assertion.value,
            "section": m.section,
            "extractor": m.extractor,
            "confidence": m.confidence,
            "node_id": m.node_id,
            "link_score": m.link_score,
            "concept_id": m.concept_id,
            "codes": json.dumps(list(m.codes)) if m.codes else None,
        })
    return conform_mentions(pd.DataFrame(rows, columns=list(MENTION_COLUMNS)))


def entity_sets(mentions: pd.DataFrame) -> dict[int, EntitySet]:
    """Per stay, one entry per (linked concept, assertion): type, count, first hour, best link
    score; ``EntitySet.node_ids`` holds the concept ids (``concept_id``, else ``node_id``).

    ``count`` counts mentions, and for time-series findings their abnormal measurements
    (column ``n_abnormal``), so ten high potassium values weigh more than one.

    Unlinked mentions (node_id NA) are left out: the model sees KG nodes. Entries are ordered
    by first hour, then node id, then assertion, so the same table always gives the same set.
    """
    missing = [c for c in ("stay_id", "node_id", "type", "assertion", "hours", "link_score") if c not in mentions.columns]
    if missing:
        raise DataError(f"mentions table lacks columns {missing}", field=missing[0])
    linked = mentions[mentions["node_id"].notna()]
    if "concept_id" in linked.columns:
        linked = linked.assign(node_id=linked["concept_id"].astype("string").fillna(linked["node_id"].astype("string")))
    bad = set(linked["assertion"].dropna().unique()) - {a.value for a in Assertion}
    if bad:
        raise DataError(f"unknown assertion values {sorted(bad)}", field="assertion")
    weight = (linked["n_abnormal"].astype("Float64").fillna(1) if "n_abnormal" in linked.columns
              else pd.Series(1, index=linked.index)).astype("int64")
    grouped = (
        linked.assign(hours=linked["hours"].astype("float64"), link_score=linked["link_score"].astype("float64"),
                      _weight=weight)
        .groupby(["stay_id", "node_id", "assertion"], sort=False, dropna=False)
        .agg(type=("type", "first"), count=("_weight", "sum"), first_hour=("hours", "min"), link_score=("link_score", "max"))
        .reset_index()
    )
    out: dict[int, EntitySet] = {}
    for stay_id, rows in grouped.groupby("stay_id", sort=True):
        rows = rows.assign(_h=rows["first_hour"].fillna(float("inf"))).sort_values(["_h", "node_id", "assertion"])
        out[int(stay_id)] = EntitySet(
            stay_id=int(stay_id),
            node_ids=tuple(str(v) for v in rows["node_id"]),
            types=tuple(str(v) for v in rows["type"]),
            assertions=tuple(Assertion(v) for v in rows["assertion"]),
            counts=tuple(int(v) for v in rows["count"]),
            first_hours=tuple(float(v) for v in rows["first_hour"]),
            link_scores=tuple(float(v) if pd.notna(v) else 1.0 for v in rows["link_score"]),
        )
    return out
