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

The table travels with ``mentions_meta.json`` (KG version, extractor config, counts). Two
files cannot be renamed into place in one step, so the pair is bound instead: the metadata is
published first and the table last, carrying the metadata's digest in its Parquet footer. A
run killed between the two leaves a table whose digest does not match the metadata beside it,
and :func:`mentions_meta` refuses that pair with a DataError rather than guess: the readers
(training, serialization) are handed a path and cannot know the extraction settings needed to
redo it, so the user is told to re-run ``realm extract``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realm.cache import atomic_path, file_digest, publish_lock
from realm.errors import DataError
from realm.records import Assertion, EntitySet, Mention

__all__ = ["MENTION_COLUMNS", "MENTIONS_FILE", "META_FILE", "mentions_frame", "conform_mentions",
           "entity_sets", "write_mentions", "mentions_meta"]

MENTIONS_FILE = "mentions.parquet"
META_FILE = "mentions_meta.json"
#: Parquet footer key holding the sha256 of the ``mentions_meta.json`` written with the table.
_META_DIGEST_KEY = b"realm.mentions_meta_sha256"

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


def write_mentions(table: pd.DataFrame, meta: Mapping[str, Any], out_dir: Path) -> Path:
    """Publish ``table`` as ``out_dir/mentions.parquet`` with ``meta`` as ``mentions_meta.json``;
    the table, renamed last, carries the metadata's digest (see the module docstring)."""
    out_dir = Path(out_dir)
    text = json.dumps(meta, indent=2, default=str).encode("utf-8")
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           _META_DIGEST_KEY: hashlib.sha256(text).hexdigest().encode()})
    out_dir.mkdir(parents=True, exist_ok=True)
    # one writer of the pair at a time: two extractions into one folder never cross their files
    with publish_lock(out_dir / MENTIONS_FILE):
        with atomic_path(out_dir / META_FILE) as tmp:
            tmp.write_bytes(text)
        with atomic_path(out_dir / MENTIONS_FILE) as tmp:
            pq.write_table(arrow, tmp)
    return out_dir / MENTIONS_FILE


def mentions_meta(path: Path) -> dict[str, Any] | None:
    """The ``mentions_meta.json`` written with the mentions table at ``path``; None for a table
    realm did not write (no digest in its footer, no metadata beside it).

    Raises:
        DataError: the two files are not one pair (a run was killed between them, or one was
            copied over), or one of them is missing.
    """
    path = Path(path)
    meta = path.with_name(META_FILE)
    if path.suffix != ".parquet":
        return None
    try:
        footer = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"unreadable Parquet file ({exc})", path=path) from exc
    expected = footer.get(_META_DIGEST_KEY)
    if expected is None and not meta.is_file():
        return None
    if expected is None or not meta.is_file() or file_digest(meta).encode() != expected:
        raise DataError(f"{path.name} and {META_FILE} beside it are not from the same run "
                        "(an interrupted extraction, or a file copied over): re-run realm extract",
                        path=path)
    return json.loads(meta.read_text(encoding="utf-8"))
