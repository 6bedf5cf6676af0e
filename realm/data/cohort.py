"""The canonical cohort: one on-disk format that every reader writes and every stage reads.

A cohort is a folder of Parquet tables plus two JSON files::

    stays.parquet     one row per ICU stay
    events.parquet    time series in long form, only inside the prediction window
    notes.parquet     notes written inside the prediction window (never discharge summaries)
    labels.parquet    one row per stay, one nullable column per task
    oracle.parquet    (synthetic only) the true risk of every stay per task
    medications.parquet  (optional) drug orders known by the prediction time (PRESCRIPTIONS)
    meta.json         source, reader configuration, input digest, variables, counts
    quality.json      the data-quality report (QualityReport)

Columns (dtype; nullable unless marked *):

stays
    stay_id* int64, subject_id* int64, hadm_id int64, intime/outtime/admittime/dischtime/
    deathtime timestamp, age float64, sex str ("F"/"M"), icu_type str, height float64 (cm),
    weight float64 (kg, at admission), ethnicity str, insurance str, los_hours float64,
    split str ("train"/"val"/"test", assigned by realm.data.splits), source* str
events
    stay_id* int64, hours* float32 (since ICU admission), variable* str or categorical of
    str (a name from realm/resources/variables.csv), value* float64 (canonical unit;
    categorical variables hold their numeric category), unit str (or categorical of str)
notes
    note_id* str, stay_id* int64, hours* float32 (since ICU admission; negative = before),
    category* str, text* str
medications (only when the source has PRESCRIPTIONS)
    stay_id* int64, hours* float32 (since ICU admission, when the order is known to have
    started: the start time, or with only a start date the end of that day, as for notes;
    negative = ordered before the ICU stay), drug* str (the DRUG string as ordered),
    route str. Stop times are not kept: an order stopped early can say how the stay ended.
labels
    stay_id* int64, mortality Int8 (in-hospital death; NA when not defined for the stay),
    readmission_30d Int8 (NA when not defined, e.g. died in hospital or source lacks it)

Label definitions (``realm.data.labels`` implements them):

- ``mortality``: death during the hospital admission that holds the ICU stay, predicted at
  ``window_hours`` (48 h) after ICU admission; defined only for stays of at least 48 h
  (as mimic3-benchmarks' in-hospital-mortality task).
- ``readmission_30d``: a new hospital admission of the same subject within 30 days after
  this admission's discharge time, or death within 30 days after discharge. Measured from
  discharge, not admission. Not defined for admissions that end in death.

The prediction-time cut: nothing recorded after ``window_hours`` reaches events, notes or
medications.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from realm.cache import atomic_dir
from realm.data.quality import QualityReport
from realm.errors import DataError

__all__ = ["Cohort", "STAY_COLUMNS", "EVENT_COLUMNS", "NOTE_COLUMNS", "LABEL_COLUMNS",
           "MEDICATION_COLUMNS", "TASKS"]

TASKS: tuple[str, ...] = ("mortality", "readmission_30d")

STAY_COLUMNS: dict[str, str] = {
    "stay_id": "int64",
    "subject_id": "int64",
    "hadm_id": "Int64",
    "intime": "datetime64[ns]",
    "outtime": "datetime64[ns]",
    "admittime": "datetime64[ns]",
    "dischtime": "datetime64[ns]",
    "deathtime": "datetime64[ns]",
    "age": "float64",
    "sex": "string",
    "icu_type": "string",
    "height": "float64",
    "weight": "float64",
    "ethnicity": "string",
    "insurance": "string",
    "los_hours": "float64",
    "split": "string",
    "source": "string",
}
EVENT_COLUMNS: dict[str, str] = {
    "stay_id": "int64",
    "hours": "float32",
    "variable": "string",
    "value": "float64",
    "unit": "string",
}
NOTE_COLUMNS: dict[str, str] = {
    "note_id": "string",
    "stay_id": "int64",
    "hours": "float32",
    "category": "string",
    "text": "string",
}
LABEL_COLUMNS: dict[str, str] = {"stay_id": "int64", "mortality": "Int8", "readmission_30d": "Int8"}
MEDICATION_COLUMNS: dict[str, str] = {"stay_id": "int64", "hours": "float32", "drug": "string", "route": "string"}
REQUIRED = {
    "stays": ("stay_id", "subject_id", "source"),
    "events": ("stay_id", "hours", "variable", "value"),
    "notes": ("note_id", "stay_id", "hours", "category", "text"),
    "labels": ("stay_id",),
    "medications": ("stay_id", "hours", "drug"),
}
SCHEMAS = {"stays": STAY_COLUMNS, "events": EVENT_COLUMNS, "notes": NOTE_COLUMNS, "labels": LABEL_COLUMNS,
           "medications": MEDICATION_COLUMNS}


#: Columns a reader may hand over as categoricals of strings: event names repeat millions of
#: times, and as plain string columns they cost ~60 bytes per row more (measured at 50M
#: CHARTEVENTS rows: peak RSS 1.5 GB with string casts, 0.63 GB without).
CATEGORICAL_OK: frozenset[tuple[str, str]] = frozenset({("events", "variable"), ("events", "unit")})


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema columns of ``table`` (missing optional
    columns added as nulls) cast to their dtypes; extra columns are kept after them."""
    schema = SCHEMAS[table]
    for col in REQUIRED[table]:
        if col not in frame.columns:
            raise DataError(f"cohort table {table!r} lacks required column", field=col)
    out = frame.copy(deep=False)  # copy-on-write: the casts below replace columns, never mutate
    for col, dtype in schema.items():
        if col not in out.columns:
            # None (not pd.NA): pandas 3 refuses pd.NA for float64, None gives NaN/NaT/NA.
            out[col] = pd.Series(None, index=out.index, dtype=dtype)
        if (table, col) in CATEGORICAL_OK and isinstance(out[col].dtype, pd.CategoricalDtype):
            if not pd.api.types.is_string_dtype(out[col].cat.categories):
                raise DataError("categories are not strings", field=f"{table}.{col}")
            continue
        try:
            out[col] = out[col].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise DataError(f"cannot cast to {dtype} ({exc})", field=f"{table}.{col}") from exc
    extra = [c for c in out.columns if c not in schema]
    return out[list(schema) + extra].reset_index(drop=True)


@dataclass
class Cohort:
    """The four tables of a cohort, its metadata and its data-quality report; ``oracle``
    and ``medications`` when the source has them (None otherwise)."""

    stays: pd.DataFrame
    events: pd.DataFrame
    notes: pd.DataFrame
    labels: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    quality: QualityReport = field(default_factory=QualityReport)
    oracle: pd.DataFrame | None = None
    medications: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        self.stays = conform(self.stays, "stays")
        self.events = conform(self.events, "events")
        self.notes = conform(self.notes, "notes")
        self.labels = conform(self.labels, "labels")
        if self.medications is not None:
            self.medications = conform(self.medications, "medications")

    def _timed_tables(self) -> list[str]:
        return ["events", "notes"] + (["medications"] if self.medications is not None else [])

    # -- checks ---------------------------------------------------------------------------
    def validate(self, window_hours: float | None = None) -> None:
        """Raise :class:`DataError` if ids are inconsistent or anything leaks past the window."""
        ids = pd.Index(self.stays["stay_id"])
        if ids.has_duplicates:
            dup = ids[ids.duplicated()][0]
            raise DataError(f"duplicate stay_id {dup}", field="stays.stay_id")
        for name in [*self._timed_tables(), "labels"]:
            unknown = ~getattr(self, name)["stay_id"].isin(ids)
            if unknown.any():
                bad = getattr(self, name).loc[unknown, "stay_id"].iloc[0]
                raise DataError(f"{int(unknown.sum())} rows name unknown stays (e.g. {bad})",
                                field=f"{name}.stay_id")
        if self.labels["stay_id"].duplicated().any():
            raise DataError("more than one label row per stay", field="labels.stay_id")
        window = window_hours if window_hours is not None else self.meta.get("window_hours")
        if window is not None:
            for name in self._timed_tables():
                late = getattr(self, name)["hours"] > float(window)
                if late.any():
                    raise DataError(
                        f"{int(late.sum())} rows recorded after the {window} h prediction time",
                        field=f"{name}.hours",
                    )
        if "split" in self.stays and self.stays["split"].notna().all():
            per_subject = self.stays.groupby("subject_id")["split"].nunique()
            if (per_subject > 1).any():
                raise DataError(
                    f"subject {per_subject[per_subject > 1].index[0]} is in more than one split",
                    field="stays.split",
                )

    # -- disk -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the cohort atomically to ``directory`` (replacing an older one)."""
        directory = Path(directory)
        self.validate()
        with atomic_dir(directory) as tmp:
            for name in ("stays", "events", "notes", "labels"):
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
            if self.oracle is not None:
                self.oracle.to_parquet(tmp / "oracle.parquet", index=False)
            if self.medications is not None:
                self.medications.to_parquet(tmp / "medications.parquet", index=False)
            meta = dict(self.meta)
            meta["counts"] = self.counts()
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
            self.quality.write(tmp / "quality.json")
        return directory

    @classmethod
    def load(cls, directory: str | Path, tables: tuple[str, ...] = ("events", "notes")) -> Cohort:
        """Read a cohort folder. Leave large tables out of ``tables`` to skip reading them;
        ``medications`` is read when named in ``tables`` and present (else None)."""
        directory = Path(directory)
        meta_file = directory / "meta.json"
        if not meta_file.is_file():
            raise DataError("not a cohort folder (no meta.json); run `realm data prepare`",
                            path=directory)
        meta = json.loads(meta_file.read_text())
        frames: dict[str, pd.DataFrame] = {}
        for name in ("stays", "events", "notes", "labels"):
            file = directory / f"{name}.parquet"
            if name in ("stays", "labels") or name in tables:
                if not file.is_file():
                    raise DataError("missing cohort table", path=file)
                frames[name] = pd.read_parquet(file)
            else:
                frames[name] = pd.DataFrame({c: [] for c in REQUIRED[name]})
        quality_file = directory / "quality.json"
        quality = (QualityReport.from_dict(json.loads(quality_file.read_text()))
                   if quality_file.is_file() else QualityReport())
        oracle_file = directory / "oracle.parquet"
        oracle = pd.read_parquet(oracle_file) if oracle_file.is_file() else None
        meds_file = directory / "medications.parquet"
        medications = pd.read_parquet(meds_file) if "medications" in tables and meds_file.is_file() else None
        return cls(meta=meta, quality=quality, oracle=oracle, medications=medications, **frames)

    # -- views ----------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        """Stay, event and note counts and label prevalences (for meta.json and the CLI)."""
        out: dict[str, Any] = {
            "stays": int(len(self.stays)),
            "subjects": int(self.stays["subject_id"].nunique()),
            "events": int(len(self.events)),
            "notes": int(len(self.notes)),
        }
        if self.medications is not None:
            out["medications"] = int(len(self.medications))
        for task in TASKS:
            col = self.labels[task].dropna()
            out[task] = {"defined": int(len(col)), "positive": int(col.sum())}
        if self.stays["split"].notna().any():
            out["splits"] = {str(k): int(v) for k, v in self.stays["split"].value_counts().items()}
        return out
