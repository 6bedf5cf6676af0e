"""Read a MEDS dataset into a realm cohort through a code mapping (``--source meds``).

Shard by shard: MEDS keeps each subject in one shard, so a shard's stays, events and labels
are complete on their own and memory holds one shard's mapped rows (plus the growing cohort,
already cut at the prediction window). Each shard's schema is checked with the ``meds``
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
  time to every stay of the subject); the first value per stay wins.
- **Time series, notes, medications** attach to the row's stay id, else to the last stay
  started at or before the row (a stay starts at ICU admission; the first stay of a
  hospital admission at the hospital admission, so ward notes and drug orders before ICU
  reach it), timed as hours since ``intime``. Rows after ``window_hours``, and rows before
  any stay started, are counted in the quality report and left out.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
from tqdm import tqdm

from realm.data.cohort import TASKS, Cohort
from realm.data.labels import mortality_labels, readmission_labels
from realm.data.meds.mapping import MedsMapping
from realm.data.meds.schema import LABELS_DIR, SPLIT_FROM_MEDS, validate
from realm.data.quality import QualityReport
from realm.errors import DataError
from realm.resources import load_variables

__all__ = ["read_meds", "data_shards"]

log = logging.getLogger(__name__)

SOURCE = "meds"
DATA_FILE = "MEDS data"
#: Generated ids (no id column in the data): subject_id × this + the subject's k-th row.
ID_STRIDE = 1000
_H = np.timedelta64(3_600_000_000, "us")


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
                   "category", "drug")
        return pl.DataFrame({c: [r.get(c) for r in rows] for c in columns},
                            schema={c: pl.String for c in columns})


def _rows(scan: pl.LazyFrame, codes: pl.DataFrame) -> pd.DataFrame:
    """The shard's mapped rows joined with their code's kind and fields."""
    frame = (scan.filter(pl.col("code").is_in(codes["code"].implode()))
             .join(codes.lazy(), on="code", how="left").collect())
    return frame.to_pandas(use_pyarrow_extension_array=False)


def _ids(frame: pd.DataFrame, column: str | None) -> pd.Series:
    """The id column named by the mapping (Int64), or all-NA when it names none."""
    if column is None or column not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="Int64")
    return frame[column].astype("Int64")


def _generated_ids(frame: pd.DataFrame, given: pd.Series, what: str) -> pd.Series:
    """``given`` where known, else subject_id × ID_STRIDE + k (k-th row of the subject)."""
    k = frame.groupby("subject_id").cumcount()
    if (k >= ID_STRIDE).any():
        raise DataError(f"a subject has more than {ID_STRIDE} {what} rows; name an id column "
                        "in the mapping", field="subject_id")
    made = frame["subject_id"].astype("int64") * ID_STRIDE + k
    return given.fillna(made.astype("Int64")).astype("int64")


def _asof(left: pd.DataFrame, right: pd.DataFrame, on: str, right_on: str,
          direction: str) -> pd.DataFrame:
    """``left`` with the columns of the subject's ``right`` row nearest in time (pandas
    merge_asof, by subject); rows without a time get no match."""
    left = left.reset_index(drop=True).assign(_row=lambda f: np.arange(len(f)))
    timed = left[left[on].notna()].sort_values(on, kind="stable")
    right = right[right[right_on].notna()].sort_values(right_on, kind="stable")
    merged = pd.merge_asof(timed, right, left_on=on, right_on=right_on, by="subject_id",
                           direction=direction)
    out = left.merge(merged.drop(columns=[c for c in left.columns if c != "_row"]), on="_row",
                     how="left")
    return out.drop(columns="_row")


def _time_by_id(rows: pd.DataFrame, kind: str, id_column: str | None, keys: pd.Series
                ) -> pd.Series:
    """The time of the first ``kind`` row carrying each id of ``keys`` (NaT when none, or
    when the mapping names no id column), aligned with ``keys``."""
    part = rows[rows["kind"] == kind]
    by_id = pd.Series(part["time"].to_numpy(), index=_ids(part, id_column))
    by_id = by_id[by_id.index.notna()]
    by_id = by_id[~by_id.index.duplicated()]
    if by_id.empty:  # mapping through an empty Series would give floats
        return pd.Series(pd.NaT, index=keys.index, dtype=rows["time"].dtype)
    return keys.map(by_id).astype(rows["time"].dtype)


@dataclass(frozen=True)
class _Timeline:
    """A shard's stays, and the admissions and deaths the readmission label reads."""

    stays: pd.DataFrame
    admissions: pd.DataFrame  # subject_id, admittime, hadm_id
    deaths: pd.DataFrame  # subject_id, dod


def _timeline(rows: pd.DataFrame, mapping: MedsMapping) -> _Timeline:
    """One row per ICU admission, with its discharge, admission times and death."""
    adm = rows[rows["kind"] == "icu_admission"].sort_values(["subject_id", "time"], kind="stable")
    adm = adm[adm["time"].notna()].reset_index(drop=True)
    stays = pd.DataFrame({
        "subject_id": adm["subject_id"].astype("int64"),
        "stay_id": _generated_ids(adm, _ids(adm, mapping.stay_id_column), "ICU admission"),
        "intime": adm["time"],
        "icu_type": adm["icu_type"].astype("string"),
        "hadm_id": _ids(adm, mapping.hadm_id_column),
    })
    out = rows[rows["kind"] == "icu_discharge"]
    stays["outtime"] = _time_by_id(rows, "icu_discharge", mapping.stay_id_column, stays["stay_id"])
    nearest = _asof(stays, out[["subject_id", "time"]].rename(columns={"time": "_out"}),
                    "intime", "_out", "forward")["_out"]
    stays["outtime"] = stays["outtime"].fillna(pd.Series(nearest.to_numpy(), index=stays.index))
    hosp = rows[rows["kind"] == "hospital_admission"]
    admissions = pd.DataFrame({"subject_id": hosp["subject_id"].astype("int64"),
                               "admittime": hosp["time"],
                               "_hadm": _ids(hosp, mapping.hadm_id_column)})
    admissions = admissions.sort_values(["subject_id", "admittime"], kind="stable")
    admissions["_hadm"] = _generated_ids(admissions, admissions["_hadm"], "hospital admission")
    # An admission id on the ICU row wins: MIMIC has ICU stays that begin hours before their
    # hospital admission is recorded (emergency-department boarding).
    matched = _asof(stays, admissions, "intime", "admittime", "backward")
    stays["hadm_id"] = stays["hadm_id"].fillna(matched["_hadm"].astype("Int64"))
    admitted = admissions.drop_duplicates("_hadm").set_index("_hadm")["admittime"]
    stays["admittime"] = (stays["hadm_id"].map(admitted).astype(rows["time"].dtype)
                          if len(admitted) else pd.Series(pd.NaT, index=stays.index,
                                                          dtype=rows["time"].dtype))
    stays["dischtime"] = _time_by_id(rows, "hospital_discharge", mapping.hadm_id_column,
                                     stays["hadm_id"])
    disch = rows[rows["kind"] == "hospital_discharge"][["subject_id", "time"]]
    nearest = _asof(stays, disch.rename(columns={"time": "_disch"}), "intime", "_disch",
                    "forward")["_disch"]
    stays["dischtime"] = stays["dischtime"].fillna(pd.Series(nearest.to_numpy(), index=stays.index))
    death = (rows[rows["kind"] == "death"].groupby("subject_id")["time"].min()
             .rename("_death").reset_index())
    stays = stays.merge(death, on="subject_id", how="left")
    start = stays["admittime"].fillna(stays["intime"])
    inside = (stays["_death"] >= start) & ~(stays["_death"] > stays["dischtime"])
    by_admission = _time_by_id(rows, "death", mapping.hadm_id_column, stays["hadm_id"])
    stays["deathtime"] = by_admission.fillna(stays["_death"].where(inside.fillna(False)))
    stays["los_hours"] = (stays["outtime"] - stays["intime"]) / pd.Timedelta(hours=1)
    return _Timeline(stays=stays.drop(columns=["_death"]),
                     admissions=admissions.rename(columns={"_hadm": "hadm_id"}),
                     deaths=death.rename(columns={"_death": "dod"}))


def _attach(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping) -> pd.DataFrame:
    """``rows`` with the stay they belong to (``stay_id``) and ``hours`` since its intime."""
    given = _ids(rows, mapping.stay_id_column)
    # A stay starts at its ICU admission; the first stay of a hospital admission already at
    # the admission, so drugs ordered and notes written on the ward before ICU reach it.
    starts = stays[["subject_id", "stay_id", "intime", "admittime"]].sort_values("intime")
    first = ~starts.duplicated(["subject_id", "admittime"]) & starts["admittime"].notna()
    starts["_start"] = starts["intime"].where(~first, starts[["intime", "admittime"]].min(axis=1))
    near = _asof(rows.assign(_given=given.to_numpy()),
                 starts[["subject_id", "_start", "stay_id"]].rename(columns={"stay_id": "_near"}),
                 "time", "_start", "backward")
    stay = near["_given"].astype("Int64").fillna(near["_near"].astype("Int64"))
    out = rows.reset_index(drop=True).assign(stay_id=stay.to_numpy())
    intime = out["stay_id"].map(stays.set_index("stay_id")["intime"])
    out["hours"] = (out["time"] - intime) / pd.Timedelta(hours=1)
    return out


def _keep(frame: pd.DataFrame, table: str, window_hours: float,
          quality: QualityReport) -> pd.DataFrame:
    """Drop, with a count, rows without a stay or time and rows after the window."""
    no_stay = frame["stay_id"].isna()
    quality.add(DATA_FILE, table, "no ICU stay to attach to (before any ICU admission)",
                int(no_stay.sum()))
    no_time = ~no_stay & frame["hours"].isna()
    quality.add(DATA_FILE, table, "no time", int(no_time.sum()))
    late = frame["hours"] > window_hours
    quality.add(DATA_FILE, table, "after the prediction window", int(late.sum()))
    return frame[~no_stay & ~no_time & ~late.fillna(False)]


def _attributes(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping) -> pd.DataFrame:
    """The stay attributes (age, sex, …) as columns of ``stays``."""
    attrs = rows[rows["kind"] == "stay_attributes"].copy()
    statics = attrs[attrs["time"].isna()].drop(columns="stay_id", errors="ignore")
    timed = _attach(attrs[attrs["time"].notna()], stays, mapping)
    spread = statics.merge(stays[["subject_id", "stay_id"]], on="subject_id")
    both = pd.concat([timed, spread], ignore_index=True)
    value = both["numeric_value"].astype("object").where(both["numeric_value"].notna(),
                                                         both["value"].fillna(both["text_value"]))
    both = both.assign(_value=value).dropna(subset=["stay_id", "_value"])
    wide = both.drop_duplicates(["stay_id", "column"]).pivot(index="stay_id", columns="column",
                                                             values="_value")
    out = stays.copy()
    for column in ("age", "height", "weight"):
        got = wide[column] if column in wide.columns else pd.Series(dtype="float64")
        out[column] = pd.to_numeric(out["stay_id"].map(got), errors="coerce").astype("float64")
    for column in ("sex", "ethnicity", "insurance"):
        got = wide[column] if column in wide.columns else pd.Series(dtype="object")
        out[column] = out["stay_id"].map(got).astype("string")
    return out


def _events(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping, window: float,
            quality: QualityReport) -> pd.DataFrame:
    ts = _keep(_attach(rows[rows["kind"] == "time_series"], stays, mapping), "time_series",
               window, quality)
    known = ts["variable"].isin(list(load_variables()))
    for variable, n in ts.loc[~known, "variable"].value_counts().items():
        quality.add(DATA_FILE, "time_series", f"variable {variable!r} not in variables.csv", int(n))
    no_value = known & ts["numeric_value"].isna()
    quality.add(DATA_FILE, "time_series", "no numeric_value", int(no_value.sum()))
    ts = ts[known & ~no_value]
    unit = ts["unit"].astype("string")
    if mapping.unknown_unit is not None:
        unit = unit.mask(unit == mapping.unknown_unit)
    return pd.DataFrame({"stay_id": ts["stay_id"].astype("int64"), "hours": ts["hours"],
                         "variable": ts["variable"], "value": ts["numeric_value"].astype("float64"),
                         "unit": unit})


def _notes(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping, window: float,
           quality: QualityReport) -> pd.DataFrame:
    notes = _keep(_attach(rows[rows["kind"] == "notes"], stays, mapping), "notes", window, quality)
    no_text = notes["text_value"].isna()
    quality.add(DATA_FILE, "notes", "no text_value", int(no_text.sum()))
    notes = notes[~no_text]
    note_id = (notes[mapping.note_id_column].astype("string")
               if mapping.note_id_column in notes.columns else pd.Series(pd.NA, index=notes.index,
                                                                         dtype="string"))
    made = notes["stay_id"].astype("string") + "-" + notes.groupby("stay_id").cumcount().astype(str)
    return pd.DataFrame({"note_id": note_id.fillna(made),
                         "stay_id": notes["stay_id"].astype("int64"), "hours": notes["hours"], "category": notes["category"],
                         "text": notes["text_value"]})


def _medications(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping, window: float,
                 quality: QualityReport) -> pd.DataFrame:
    meds = _keep(_attach(rows[rows["kind"] == "medications"], stays, mapping), "medications",
                 window, quality)
    return pd.DataFrame({"stay_id": meds["stay_id"].astype("int64"), "hours": meds["hours"],
                         "drug": meds["drug"], "route": meds["text_value"]})


def _derived_labels(timeline: _Timeline, window: float) -> pd.DataFrame:
    stays = timeline.stays
    return pd.DataFrame({
        "stay_id": stays["stay_id"].to_numpy(),
        "mortality": mortality_labels(stays, window).to_numpy(),
        "readmission_30d": readmission_labels(stays, timeline.admissions, timeline.deaths,
                                              window_hours=window).to_numpy(),
    })


def _label_files(labels_dir: Path, task: str) -> Iterator[pd.DataFrame]:
    for file in sorted((labels_dir / task).rglob("*.parquet")):
        table = pq.read_table(file)
        # The schema, not the table: ACES writes the unused value columns as all-null ones,
        # which the meds table check refuses although every label is there.
        validate("LabelSchema", table.schema, file)
        if "boolean_value" not in table.column_names:
            raise DataError("realm's tasks are binary: labels need boolean_value", path=file,
                            field="boolean_value")
        if table.column("boolean_value").null_count:
            raise DataError(f"{table.column('boolean_value').null_count} labels without a value",
                            path=file, field="boolean_value")
        yield table.select(["subject_id", "prediction_time", "boolean_value"]).to_pandas()


def _file_labels(labels_dir: Path, stays: pd.DataFrame, window: float,
                 quality: QualityReport) -> pd.DataFrame:
    """Labels from MEDS label files, attached to the stay holding their prediction time."""
    out = pd.DataFrame({"stay_id": stays["stay_id"].to_numpy()})
    for task in TASKS:
        parts = list(_label_files(labels_dir, task))
        column = pd.Series(pd.NA, index=out.index, dtype="Int8")
        if parts:
            labels = pd.concat(parts, ignore_index=True)
            labels["prediction_time"] = pd.to_datetime(labels["prediction_time"])
            near = _asof(labels, stays[["subject_id", "intime", "outtime", "stay_id"]],
                         "prediction_time", "intime", "backward")
            outside = near["stay_id"].isna() | (near["prediction_time"] > near["outtime"])
            early = ~outside & (near["prediction_time"] < near["intime"]
                                + pd.to_timedelta(window, unit="h"))
            twice = ~outside & ~early & near["stay_id"].duplicated(keep="first")
            where = f"{LABELS_DIR}/{task}"
            quality.add(where, "prediction_time", "outside every ICU stay", int(outside.sum()))
            quality.add(where, "prediction_time", f"before ICU admission + {window} h",
                        int(early.sum()))
            quality.add(where, "prediction_time", "a second label for one stay", int(twice.sum()))
            kept = near[~outside & ~early & ~twice]
            by_stay = pd.Series(kept["boolean_value"].astype("int8").to_numpy(),
                                index=kept["stay_id"].astype("int64").to_numpy())
            column = out["stay_id"].map(by_stay).astype("Int8")
        out[task] = column.to_numpy()
    return out


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


def _dataset_metadata(root: Path) -> dict[str, object]:
    path = root / "metadata" / "dataset.json"
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except ValueError as exc:
        raise DataError(f"not valid JSON ({exc})", path=path) from exc


def read_meds(root: str | Path, mapping: MedsMapping, *, window_hours: float = 48.0,
              labels_dir: str | Path | None = None, progress: bool = True) -> Cohort:
    """Read the MEDS dataset under ``root`` as a cohort for realm's two tasks (see the
    module docstring); ``labels_dir`` takes labels from MEDS label files instead of
    deriving them from the data's codes."""
    root = Path(root)
    shards = data_shards(root)
    quality = QualityReport()
    classifier = _Classifier(mapping, quality)
    tables: dict[str, list[pd.DataFrame]] = {k: [] for k in ("stays", "events", "notes",
                                                             "medications", "labels")}
    for shard in tqdm(shards, desc="MEDS shards", unit="shard", disable=not progress):
        scan = _scan(shard, mapping)
        counts = scan.group_by("code").agg(pl.len()).sort("code").collect()
        rows = _rows(scan, classifier.mapped(counts))
        timeline = _timeline(rows, mapping)
        stays = timeline.stays
        if stays.empty:
            continue
        tables["events"].append(_events(rows, stays, mapping, window_hours, quality))
        tables["notes"].append(_notes(rows, stays, mapping, window_hours, quality))
        tables["medications"].append(_medications(rows, stays, mapping, window_hours, quality))
        if labels_dir is None:
            tables["labels"].append(_derived_labels(timeline, window_hours))
        tables["stays"].append(_attributes(rows, stays, mapping))
    if not tables["stays"]:
        raise DataError(f"no ICU admission codes of mapping {mapping.name!r} in the data",
                        path=root / "data")
    stays = pd.concat(tables["stays"], ignore_index=True).assign(source=SOURCE)
    stays["split"] = _splits(root, stays)
    events = pd.concat(tables["events"], ignore_index=True)
    # Label files are not sharded as the data: they attach once all stays are known.
    labels = (pd.concat(tables["labels"], ignore_index=True) if labels_dir is None
              else _file_labels(Path(labels_dir), stays, window_hours, quality))
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
