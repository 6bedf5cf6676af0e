"""Write a realm cohort folder as a MEDS dataset (``realm data export-meds``).

The layout, as the ``meds`` package defines it::

    data/<split>/<k>.parquet          one long event table per shard; a subject's rows sit in
                                      one shard, contiguous, sorted by time (statics first)
    metadata/codes.parquet            every code of the data, with a description
    metadata/dataset.json             name, versions and the extra columns below
    metadata/subject_splits.parquet   subject_id -> train / tuning / held_out
    labels/<task>/<split>/<k>.parquet the cohort's labels in the MEDS label schema

``<split>`` is realm's train/val/test named as MEDS names them (train/tuning/held_out);
subjects without a split go to ``data/unsplit/`` and have no row in ``subject_splits``.

The code scheme (``realm/data/meds/mappings/realm_export.yaml`` reads it back):

==============================  ==========================  ================================
code                            time                        value
==============================  ==========================  ================================
``GENDER//<F|M>``               null (a static)
``HOSPITAL_ADMISSION``          admittime
``ICU_ADMISSION//<icu_type>``   intime (``ICU_ADMISSION`` when the type is unknown)
``AGE``                         intime                      numeric_value: years
``HEIGHT`` / ``WEIGHT``         intime                      numeric_value: cm / kg
``ETHNICITY//<x>``              intime
``INSURANCE//<x>``              intime
``LAB//<variable>//<unit>``     intime + hours              numeric_value (canonical unit;
                                                            ``UNK`` when the row has none)
``NOTE//<category>``            intime + hours              text_value: the note
``MEDICATION//<drug>``          intime + hours              text_value: the route
``ICU_DISCHARGE``               outtime (intime + los_hours when outtime is unknown)
``HOSPITAL_DISCHARGE``          dischtime
``MEDS_DEATH``                  deathtime
==============================  ==========================  ================================

Three extra columns keep realm's ids (listed as ``raw_source_id_columns`` in dataset.json):
``stay_id`` on every row of a stay, ``hadm_id`` on every row of an admission (hospital rows
carry no ``stay_id``: an admission may hold several ICU stays), ``note_id`` on notes.

Times. MEDS times are absolute; realm's events are hours since ICU admission (float32),
written as the whole second those hours round to (or the nearest microsecond when no whole
second gives the same float32), so a round trip gives back the same hours. A stay without an
ICU admission time (PhysioNet 2012 publishes none) is anchored at 2000-01-01 00:00, a
subject's k-th such stay (by stay_id) k × 365 days later, so the stays of one subject never
overlap; the anchor is deterministic.

Labels. Each defined label is one row ``(subject_id, prediction_time, boolean_value)`` with
``prediction_time`` = ICU admission + the cohort's ``window_hours`` (realm predicts both
tasks there: nothing later reaches any feature). Undefined labels (NA) have no row.

What does not survive: ``numeric_value`` is float32 in MEDS (values round to ~7 digits);
stays columns outside the schema of :mod:`realm.data.cohort` (PhysioNet's ``set``,
``saps1``, ``sofa``) are not exported; the synthetic hospital's oracle stays in realm.
"""

from __future__ import annotations

import json
import logging
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realm.cache import atomic_dir
from realm.data.cohort import TASKS, Cohort
from realm.data.meds.schema import LABELS_DIR, SPLIT_TO_MEDS, meds_package, validate
from realm.errors import DataError
from realm.resources import load_variables

__all__ = ["export_meds", "ANCHOR", "UNKNOWN_UNIT", "EXPORT_SCHEMA", "meds_events",
           "anchored_stays"]

log = logging.getLogger(__name__)

#: Where stays without an ICU admission time are placed (see the module docstring).
ANCHOR = pd.Timestamp("2000-01-01")
#: The unit part of a LAB code whose row has no unit (as the MIMIC-IV MEDS ETL writes it).
UNKNOWN_UNIT = "UNK"
UNSPLIT = "unsplit"
ID_COLUMNS = ("stay_id", "hadm_id", "note_id")
_US = "datetime64[us]"


def anchored_stays(stays: pd.DataFrame) -> pd.DataFrame:
    """``stays`` with ``intime`` filled for stays that lack it (the documented anchor)."""
    out = stays.copy()
    missing = out["intime"].isna()
    if missing.any():
        rank = out.loc[missing].groupby("subject_id")["stay_id"].rank(method="first") - 1
        out.loc[missing, "intime"] = ANCHOR + pd.to_timedelta(rank * 365, unit="D")
    return out


def _rows(subject: pd.Series, time: pd.Series | None, code: pd.Series | str, **cols: object
          ) -> pd.DataFrame:
    frame = pd.DataFrame({"subject_id": subject.to_numpy(dtype="int64")})
    frame["time"] = pd.NaT if time is None else pd.to_datetime(time).to_numpy()
    frame["code"] = code.to_numpy() if isinstance(code, pd.Series) else code
    for name, value in cols.items():
        frame[name] = value.to_numpy() if isinstance(value, pd.Series) else value
    return frame


def _prefixed(prefix: str, values: pd.Series) -> pd.Series:
    return prefix + values.astype("string")


def _stay_rows(stays: pd.DataFrame) -> list[pd.DataFrame]:
    """The rows a stay contributes on its own: admission, statics, discharge, death."""
    s = stays
    intime, stay, hadm = s["intime"], s["stay_id"], s["hadm_id"]
    icu_code = ("ICU_ADMISSION//" + s["icu_type"].astype("string")).fillna("ICU_ADMISSION")
    outtime = s["outtime"].fillna(intime + pd.to_timedelta(s["los_hours"], unit="h"))
    frames = [_rows(s["subject_id"], intime, icu_code, stay_id=stay, hadm_id=hadm),
              _rows(s["subject_id"], outtime, "ICU_DISCHARGE", stay_id=stay, hadm_id=hadm)]
    for column, code in (("age", "AGE"), ("height", "HEIGHT"), ("weight", "WEIGHT")):
        known = s[column].notna()
        frames.append(_rows(s.loc[known, "subject_id"], intime[known], code, stay_id=stay[known],
                            hadm_id=hadm[known], numeric_value=s.loc[known, column]))
    for column, prefix in (("ethnicity", "ETHNICITY//"), ("insurance", "INSURANCE//")):
        known = s[column].notna()
        frames.append(_rows(s.loc[known, "subject_id"], intime[known],
                            _prefixed(prefix, s.loc[known, column]), stay_id=stay[known],
                            hadm_id=hadm[known]))
    # Hospital-level rows: once per admission, without a stay id (one admission, many stays).
    for column, code in (("admittime", "HOSPITAL_ADMISSION"), ("dischtime", "HOSPITAL_DISCHARGE"),
                         ("deathtime", "MEDS_DEATH")):
        known = s[column].notna()
        frames.append(_rows(s.loc[known, "subject_id"], s.loc[known, column], code,
                            hadm_id=hadm[known]).drop_duplicates())
    known = s["sex"].notna()
    frames.append(_rows(s.loc[known, "subject_id"], None,
                        _prefixed("GENDER//", s.loc[known, "sex"])).drop_duplicates())
    return frames


def _offset_us(hours: pd.Series) -> np.ndarray:
    """Microseconds since ICU admission for float32 ``hours``: the whole second when it
    gives back the same float32 (sources record seconds; float32 hours alone would turn
    00:07 into 00:07:00.000002, which tools such as ACES compare against window edges),
    else the nearest microsecond. Either way reading the time back gives the same hours."""
    h32 = hours.to_numpy(dtype="float32")
    micro = np.rint(h32.astype("float64") * 3.6e9)
    whole = np.rint(micro / 1e6) * 1e6
    same = (whole / 3.6e9).astype("float32") == h32
    return np.where(same, whole, micro).astype("int64")


def _timed_rows(table: pd.DataFrame, stays: pd.DataFrame, code: pd.Series, **cols: object
                ) -> pd.DataFrame:
    """Rows of an events/notes/medications table, timed from the stay's ICU admission."""
    base = stays.set_index("stay_id").loc[table["stay_id"].to_numpy()]
    time = pd.Series(base["intime"].to_numpy() + pd.to_timedelta(_offset_us(table["hours"]),
                                                                  unit="us"))
    return _rows(base["subject_id"].reset_index(drop=True), time, code,
                 stay_id=table["stay_id"], hadm_id=base["hadm_id"].reset_index(drop=True), **cols)


def meds_events(cohort: Cohort, stays: pd.DataFrame) -> pd.DataFrame:
    """Every MEDS row of the stays in ``stays`` (anchored), sorted by subject and time."""
    ids = stays["stay_id"]
    events = cohort.events[cohort.events["stay_id"].isin(ids)]
    notes = cohort.notes[cohort.notes["stay_id"].isin(ids)]
    unit = events["unit"].astype("string").fillna(UNKNOWN_UNIT)
    frames = _stay_rows(stays) + [
        _timed_rows(events, stays, "LAB//" + events["variable"].astype("string") + "//" + unit,
                    numeric_value=events["value"]),
        _timed_rows(notes, stays, _prefixed("NOTE//", notes["category"]),
                    text_value=notes["text"], note_id=notes["note_id"]),
    ]
    if cohort.medications is not None:
        meds = cohort.medications[cohort.medications["stay_id"].isin(ids)]
        frames.append(_timed_rows(meds, stays, _prefixed("MEDICATION//", meds["drug"]),
                                  text_value=meds["route"]))
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True)
    for col in ("numeric_value", "text_value", *ID_COLUMNS):
        if col not in frame.columns:
            frame[col] = None
    # Statics (null time) first, then time; stable, so a stay's rows keep their order.
    frame["_static"] = frame["time"].notna()
    frame = frame.sort_values(["subject_id", "_static", "time"], kind="stable")
    return frame.drop(columns="_static").reset_index(drop=True)


#: The export's shard schema: the MEDS DataSchema's types, plus realm's id columns.
EXPORT_SCHEMA = pa.schema([
    ("subject_id", pa.int64()), ("time", pa.timestamp("us")), ("code", pa.string()),
    ("numeric_value", pa.float32()), ("text_value", pa.large_string()),
    ("stay_id", pa.int64()), ("hadm_id", pa.int64()), ("note_id", pa.string()),
])


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as a table of :data:`EXPORT_SCHEMA`."""
    columns = {
        "subject_id": frame["subject_id"].to_numpy(dtype="int64"),
        "time": pd.to_datetime(frame["time"]).astype(_US),
        "code": frame["code"].astype("string"),
        "numeric_value": pd.to_numeric(frame["numeric_value"]).astype("float32"),
        "text_value": frame["text_value"].astype("string"),
        "stay_id": frame["stay_id"].astype("Int64"),
        "hadm_id": frame["hadm_id"].astype("Int64"),
        "note_id": frame["note_id"].astype("string"),
    }
    return pa.Table.from_pandas(pd.DataFrame(columns), schema=EXPORT_SCHEMA, preserve_index=False)


def _label_table(cohort: Cohort, stays: pd.DataFrame, task: str, window_hours: float) -> pa.Table:
    labels = cohort.labels.set_index("stay_id")[task].reindex(stays["stay_id"].to_numpy())
    keep = labels.notna().to_numpy()
    frame = pd.DataFrame({
        "subject_id": stays["subject_id"].to_numpy(dtype="int64")[keep],
        "prediction_time": (stays["intime"] + pd.to_timedelta(window_hours, unit="h"))
        .to_numpy()[keep].astype(_US),
        "boolean_value": labels.to_numpy()[keep].astype(bool),
    }).sort_values(["subject_id", "prediction_time"], kind="stable")
    schema = pa.schema([("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
                        ("boolean_value", pa.bool_())])
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _describe(code: str) -> str:
    """A human-readable description of one code of the scheme."""
    parts = code.split("//")
    if parts[0] == "LAB" and len(parts) == 3:
        variable = load_variables().get(parts[1])
        name = variable.description if variable is not None and variable.description else parts[1]
        return f"{name} ({parts[2]})"
    fixed = {"AGE": "age at ICU admission (years)", "HEIGHT": "height (cm)",
             "WEIGHT": "weight at ICU admission (kg)", "ICU_DISCHARGE": "ICU discharge",
             "HOSPITAL_ADMISSION": "hospital admission", "HOSPITAL_DISCHARGE": "hospital discharge",
             "MEDS_DEATH": "death", "ICU_ADMISSION": "ICU admission"}
    if code in fixed:
        return fixed[code]
    kinds = {"ICU_ADMISSION": "ICU admission to", "NOTE": "note:", "MEDICATION": "drug order:",
             "GENDER": "sex", "ETHNICITY": "ethnicity", "INSURANCE": "insurance"}
    return f"{kinds.get(parts[0], parts[0])} {'//'.join(parts[1:])}"


def _split_of_subjects(stays: pd.DataFrame) -> pd.Series:
    split = stays.groupby("subject_id")["split"].first()
    return split.map(SPLIT_TO_MEDS).astype("object").where(split.notna(), UNSPLIT)


def _write(table: pa.Table, schema_name: str, path: Path) -> None:
    validate(schema_name, table, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _dataset_json(cohort: Cohort) -> dict[str, object]:
    try:
        realm_version = metadata.version("realm")
    except metadata.PackageNotFoundError:  # a source checkout without an install
        realm_version = "unknown"
    return {
        "dataset_name": f"realm-{cohort.meta.get('source', 'cohort')}",
        "dataset_version": str(cohort.meta.get("input_digest", "unknown")),
        "etl_name": "realm.data.meds.export",
        "etl_version": realm_version,
        "meds_version": meds_package().__version__,
        "raw_source_id_columns": list(ID_COLUMNS),
    }


def export_meds(cohort_dir: str | Path, out: str | Path, *, subjects_per_shard: int = 10_000
                ) -> Path:
    """Write the cohort in ``cohort_dir`` as a MEDS dataset in ``out`` (replaced atomically);
    every table is validated with the ``meds`` schemas before it is written."""
    if subjects_per_shard < 1:
        raise DataError(f"subjects_per_shard must be positive, got {subjects_per_shard}")
    cohort = Cohort.load(cohort_dir, tables=("events", "notes", "medications"))
    window = cohort.meta.get("window_hours")
    if window is None:
        raise DataError("cohort without window_hours", path=Path(cohort_dir) / "meta.json",
                        field="window_hours")
    cohort.validate()
    stays = anchored_stays(cohort.stays)
    split_of = _split_of_subjects(stays)
    codes: set[str] = set()
    out = Path(out)
    with atomic_dir(out) as tmp:
        for split, subjects in split_of.groupby(split_of, sort=True):
            ids = np.sort(subjects.index.to_numpy())
            for k, start in enumerate(range(0, len(ids), subjects_per_shard)):
                shard = stays[stays["subject_id"].isin(ids[start:start + subjects_per_shard])]
                frame = meds_events(cohort, shard)
                codes.update(frame["code"].unique().tolist())
                _write(_arrow(frame), "DataSchema", tmp / "data" / str(split) / f"{k}.parquet")
                for task in TASKS:
                    _write(_label_table(cohort, shard, task, float(window)), "LabelSchema",
                           tmp / LABELS_DIR / task / str(split) / f"{k}.parquet")
        known = split_of[split_of != UNSPLIT]
        _write(pa.table({"subject_id": pa.array(known.index.to_numpy(), pa.int64()),
                         "split": pa.array(known.to_numpy().astype(str), pa.string())}),
               "SubjectSplitSchema", tmp / "metadata" / "subject_splits.parquet")
        ordered = sorted(codes)
        _write(pa.table({"code": pa.array(ordered, pa.string()),
                         "description": pa.array([_describe(c) for c in ordered], pa.string()),
                         "parent_codes": pa.array([None] * len(ordered), pa.list_(pa.string()))}),
               "CodeMetadataSchema", tmp / "metadata" / "codes.parquet")
        dataset = _dataset_json(cohort)
        meds_package().DatasetMetadataSchema.validate(dataset)
        (tmp / "metadata" / "dataset.json").write_text(json.dumps(dataset, indent=2))
    log.info("wrote %d stays of %d subjects as MEDS to %s", len(stays), len(split_of), out)
    return out
