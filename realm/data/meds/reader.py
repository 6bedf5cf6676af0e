"""Read a MEDS dataset into a realm cohort through a code mapping (``--source meds``).

Shard by shard, and within a shard by batches of whole subjects (about ``batch_rows`` rows):
MEDS keeps each subject in one shard, so a batch's stays, events and labels are complete on
their own and memory holds one batch's mapped rows (plus the growing cohort, already cut at
the prediction window), whatever the size of a shard. Each shard's schema is checked with
the ``meds``
``DataSchema`` before a row is read; codes are counted per code with one lazy polars scan,
and only the mapped ones are read (a filter pushed into the scan).

How rows become a cohort (see :mod:`realm.data.meds.mapping` for the mapping file):

- **Stays**: one per ``icu_admission`` row (``intime``; ``icu_type`` from its fields). The
  stay id is the mapping's ``stay_id_column`` on that row; without one, ``subject_id ×
  1000 + k`` for the subject's k-th ICU admission. ``outtime`` is the ``icu_discharge`` of the
  same stay id, else the subject's first one at or after ``intime``. The admission is the
  one named by the ICU row's ``hadm_id_column`` (MIMIC has ICU stays that start before
  their admission is recorded), else the subject's last ``hospital_admission`` at or before
  ``intime``; ``dischtime`` and ``deathtime`` are the ``hospital_discharge`` and ``death``
  rows of that admission id, else the subject's first discharge at or after ``intime`` and
  the subject's death when it falls inside the admission.
- **Stay attributes** (age, sex, height, weight, ethnicity, insurance) attach to the row's
  stay (its stay id, else the last ICU admission at or before it; a static row without a
  time to every stay of the subject); the first value per stay wins. A stay without an age
  row gets its age from the subject's ``birth`` row (years from birth to ``intime``).
- **Time series, notes, medications** attach to the row's stay id, else to the last stay
  started at or before the row (a stay starts at ICU admission; the first stay of a
  hospital admission at the hospital admission, so ward notes and drug orders before ICU
  reach it), timed as hours since ``intime``. A time-series rule's ``conversion`` turns the
  value (``text_value`` parsed where ``numeric_value`` is empty) into the variable's unit.
  Rows after ``window_hours``, and rows before any stay started, are counted in the quality
  report and left out.
- **Labels**: with ``labels_dir`` (MEDS label files: ``<labels_dir>/<task>/**/*.parquet``,
  as realm's export and ACES write them) a label attaches to the stay whose ICU time holds
  its ``prediction_time``; a label predicted before ``intime + window_hours`` is counted and
  dropped (the cohort's features reach the window, so they would see past it), as is one
  outside every stay. Without ``labels_dir`` labels follow :mod:`realm.data.labels` over
  the stays, admissions (``hospital_admission`` rows) and deaths of the data.
- **Splits** come from ``metadata/subject_splits.parquet`` when present (train / tuning /
  held_out become train / val / test); otherwise ``split`` is left empty.

A code no rule matches is counted per code (``quality.json``: file ``MEDS data``, field
``code``); a time-series variable realm does not know and a row without the value its kind
needs are counted too. Nothing is dropped without a count.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import polars as pl
from pandas.api.types import union_categoricals
import pyarrow.parquet as pq
from tqdm import tqdm

from realm.data.cohort import Cohort
from realm.data.meds.label_files import derived_labels, file_labels
from realm.data.meds.mapping import MedsMapping
from realm.data.meds.schema import SPLIT_FROM_MEDS, validate
from realm.data.meds.tables import (
    DATA_FILE, NO_STAY, TIMED_KINDS, events_table, medications_table, notes_table,
    stay_attributes,
)
from realm.data.meds.timeline import build_timeline
from realm.data.quality import QualityReport
from realm.errors import DataError

__all__ = ["read_meds", "data_shards", "subject_batches", "BATCH_ROWS"]

log = logging.getLogger(__name__)

SOURCE = "meds"
#: Rows of a shard read at once: shards of a real ETL hold ~10 M rows (MIMIC-IV: 1,000
#: subjects per shard), and the timeline's joins need several copies of what is read.
BATCH_ROWS = 1_000_000


def data_shards(root: Path) -> list[Path]:
    """The data shards of a MEDS dataset (``data/**/*.parquet``), sorted; errors when the
    dataset has no ``metadata/`` folder or no shard."""
    if not (root / "metadata").is_dir():
        raise DataError("not a MEDS dataset: no metadata/ folder", path=root / "metadata")
    shards = sorted((root / "data").rglob("*.parquet"))
    if not shards:
        raise DataError("no MEDS data shards (data/**/*.parquet)", path=root / "data")
    return shards


def _scan(shard: Path, mapping: MedsMapping) -> pl.LazyFrame:
    """A lazy scan of one shard after its schema passed ``meds``' DataSchema."""
    schema = pq.read_schema(shard)
    validate("DataSchema", schema, shard)
    extra = [c for c in (mapping.stay_id_column, mapping.hadm_id_column, mapping.note_id_column)
             if c is not None]
    for col in extra:
        if col not in schema.names:
            raise DataError(f"the mapping {mapping.name!r} names an id column the data lacks",
                            path=shard, field=col)
    scan = pl.scan_parquet(shard)
    for col in ("numeric_value", "text_value"):  # optional in MEDS: add them as nulls
        if col not in schema.names:
            scan = scan.with_columns(pl.lit(None, pl.Float32 if col == "numeric_value"
                                            else pl.String).alias(col))
    return scan.select(["subject_id", "time", "code", "numeric_value", "text_value", *extra])


class _Classifier:
    """Code -> (kind, fields), each distinct code matched once against the mapping."""

    def __init__(self, mapping: MedsMapping, quality: QualityReport) -> None:
        self.mapping = mapping
        self.quality = quality
        self.known: dict[str, tuple[str, dict[str, str]] | None] = {}

    def mapped(self, counts: pl.DataFrame) -> pl.DataFrame:
        """The mapped codes of a shard as a table (code, kind, fields…); unmapped codes are
        counted in the quality report."""
        rows = []
        for code, n in counts.iter_rows():
            if code not in self.known:
                self.known[code] = self.mapping.classify(code)
            found = self.known[code]
            if found is None:
                self.quality.add(DATA_FILE, "code", f"code {code!r} not in mapping "
                                 f"{self.mapping.name!r}", int(n))
            elif found[0] != "ignore":
                rows.append({"code": code, "kind": found[0], **found[1]})
        columns = ("code", "kind", "icu_type", "column", "value", "variable", "unit",
                   "conversion", "category", "drug")
        return pl.DataFrame({c: [r.get(c) for r in rows] for c in columns},
                            schema={c: pl.String for c in columns})


def _rows(scan: pl.LazyFrame, codes: pl.DataFrame) -> pd.DataFrame:
    """The shard's mapped rows joined with their code's kind and fields."""
    frame = (scan.filter(pl.col("code").is_in(codes["code"].implode()))
             .join(codes.lazy(), on="code", how="left").collect())
    return frame.to_pandas(use_pyarrow_extension_array=False)


def _splits(root: Path, stays: pd.DataFrame) -> pd.Series:
    """Each stay's split from ``metadata/subject_splits.parquet`` (NA when absent)."""
    path = root / "metadata" / "subject_splits.parquet"
    if not path.is_file():
        return pd.Series(pd.NA, index=stays.index, dtype="string")
    table = pq.read_table(path)
    validate("SubjectSplitSchema", table, path)
    splits = table.to_pandas()
    twice = splits["subject_id"].duplicated(keep=False) & ~splits.duplicated(keep=False)
    if twice.any():
        raise DataError(f"subject {splits.loc[twice, 'subject_id'].iloc[0]} is in more than one "
                        "split", path=path, field="subject_id")
    unknown = ~splits["split"].isin(list(SPLIT_FROM_MEDS))
    if unknown.any():
        raise DataError(f"unknown split {splits.loc[unknown, 'split'].iloc[0]!r} (expected "
                        f"{sorted(SPLIT_FROM_MEDS)})", path=path, field="split")
    by_subject = splits.drop_duplicates().set_index("subject_id")["split"].map(SPLIT_FROM_MEDS)
    return stays["subject_id"].map(by_subject).astype("string")


def _concat_events(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The batches' events in one table, ``variable`` and ``unit`` kept categorical (a plain
    concat of categoricals with different categories falls back to strings)."""
    names = ("variable", "unit")
    out = pd.concat([f.drop(columns=list(names)) for f in frames], ignore_index=True)
    for name in names:
        out[name] = union_categoricals([f[name] for f in frames])
    return out[list(frames[0].columns)]


def _dataset_metadata(root: Path) -> dict[str, object]:
    path = root / "metadata" / "dataset.json"
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except ValueError as exc:
        raise DataError(f"not valid JSON ({exc})", path=path) from exc


def subject_batches(scan: pl.LazyFrame, batch_rows: int, path: Path | None = None
                    ) -> list[tuple[int, int]]:
    """``(first, last)`` subject id ranges of a shard (at ``path``) holding about
    ``batch_rows`` rows each (a subject with more is a batch of its own), in subject order.
    MEDS keeps a subject's rows in one shard, so each batch holds its subjects' whole
    records. A row without a subject (MEDS forbids them) is a DataError."""
    sizes = scan.group_by("subject_id").agg(pl.len()).sort("subject_id").collect()
    orphans = sizes.filter(pl.col("subject_id").is_null())["len"].sum()
    if orphans:
        raise DataError(f"{orphans} rows without a subject_id", path=path, field="subject_id")
    if sizes.is_empty():
        return []
    batches: list[tuple[int, int]] = []
    first = last = total = 0
    for subject, n in sizes.iter_rows():  # a few thousand subjects per shard
        if total and total + n > batch_rows:
            batches.append((first, last))
            total = 0
        if not total:
            first = subject
        last, total = subject, total + n
    batches.append((first, last))
    return batches


def _read_batch(scan: pl.LazyFrame, classifier: _Classifier, window_hours: float,
                derive_labels: bool, tables: dict[str, list[pd.DataFrame]]) -> None:
    """Add one batch of whole subjects to ``tables`` (counting what it leaves out)."""
    mapping, quality = classifier.mapping, classifier.quality
    counts = scan.group_by("code").agg(pl.len()).sort("code").collect()
    rows = _rows(scan, classifier.mapped(counts))
    timeline = build_timeline(rows, mapping)
    stays = timeline.stays
    if stays.empty:  # no ICU admission in the batch: its rows have nowhere to go
        for kind in TIMED_KINDS:
            quality.add(DATA_FILE, kind, NO_STAY, int((rows["kind"] == kind).sum()))
        return
    tables["events"].append(events_table(rows, stays, mapping, window_hours, quality))
    tables["notes"].append(notes_table(rows, stays, mapping, window_hours, quality))
    tables["medications"].append(medications_table(rows, stays, mapping, window_hours, quality))
    if derive_labels:
        tables["labels"].append(derived_labels(timeline, window_hours))
    tables["stays"].append(stay_attributes(rows, stays, mapping))


def read_meds(root: str | Path, mapping: MedsMapping, *, window_hours: float = 48.0,
              labels_dir: str | Path | None = None, progress: bool = True,
              batch_rows: int = BATCH_ROWS) -> Cohort:
    """Read the MEDS dataset under ``root`` as a cohort for realm's two tasks (see the
    module docstring); ``labels_dir`` takes labels from MEDS label files instead of
    deriving them from the data's codes; ``batch_rows`` bounds the rows of one shard held
    in memory at once (whole subjects, see :func:`subject_batches`)."""
    root = Path(root)
    shards = data_shards(root)
    quality = QualityReport()
    classifier = _Classifier(mapping, quality)
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in ("stays", "events", "notes",
                                                             "medications", "labels")}
    for shard in tqdm(shards, desc="MEDS shards", unit="shard", disable=not progress):
        scan = _scan(shard, mapping)
        for first, last in subject_batches(scan, batch_rows, shard):
            _read_batch(scan.filter(pl.col("subject_id").is_between(first, last)), classifier,
                        window_hours, labels_dir is None, tables)
    if not tables["stays"]:
        raise DataError(f"no ICU admission codes of mapping {mapping.name!r} in the data",
                        path=root / "data")
    stays = pd.concat(tables["stays"], ignore_index=True).assign(source=SOURCE)
    stays["split"] = _splits(root, stays)
    events = _concat_events(tables["events"])
    # Label files are not sharded as the data: they attach once all stays are known.
    labels = (pd.concat(tables["labels"], ignore_index=True) if labels_dir is None
              else file_labels(Path(labels_dir), stays, window_hours, quality))
    meta = {
        "source": SOURCE,
        "window_hours": float(window_hours),
        "reader": {"name": "realm.data.meds.reader", "mapping": mapping.name,
                   "labels": "files" if labels_dir is not None else "derived",
                   "window_hours": float(window_hours)},
        "meds_dataset": _dataset_metadata(root),
        "variables": sorted(events["variable"].unique().tolist()),
    }
    cohort = Cohort(stays=stays, events=events,
                    notes=pd.concat(tables["notes"], ignore_index=True),
                    labels=labels,
                    # None, as for sources without drug orders, when the mapping names none.
                    medications=(pd.concat(tables["medications"], ignore_index=True)
                                 if mapping.medications else None),
                    meta=meta, quality=quality)
    cohort.validate(window_hours)
    log.info("read %d stays from %d MEDS shards (%s)", len(stays), len(shards),
             quality.summary().splitlines()[0])
    return cohort
