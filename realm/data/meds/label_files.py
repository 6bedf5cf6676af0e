"""Labels of realm's tasks for a MEDS dataset: derived from its codes by realm's
definitions, or read from MEDS label files such as realm's export and ACES write (rules in
:mod:`realm.data.meds.reader`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from realm.data.cohort import TASKS
from realm.data.labels import mortality_labels, readmission_labels
from realm.data.meds.schema import LABELS_DIR, validate
from realm.data.meds.timeline import Timeline, asof_by_subject
from realm.data.quality import QualityReport
from realm.errors import DataError

__all__ = ["derived_labels", "file_labels"]


def derived_labels(timeline: Timeline, window: float) -> pd.DataFrame:
    stays = timeline.stays
    return pd.DataFrame({
        "stay_id": stays["stay_id"].to_numpy(),
        "mortality": mortality_labels(stays, window).to_numpy(),
        "readmission_30d": readmission_labels(stays, timeline.admissions, timeline.deaths,
                                              window_hours=window).to_numpy(),
    })


def _label_tables(labels_dir: Path, task: str) -> Iterator[pd.DataFrame]:
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


def file_labels(labels_dir: Path, stays: pd.DataFrame, window: float,
                 quality: QualityReport) -> pd.DataFrame:
    """Labels from MEDS label files, attached to the stay holding their prediction time."""
    out = pd.DataFrame({"stay_id": stays["stay_id"].to_numpy()})
    for task in TASKS:
        parts = list(_label_tables(labels_dir, task))
        column = pd.Series(pd.NA, index=out.index, dtype="Int8")
        if parts:
            labels = pd.concat(parts, ignore_index=True)
            labels["prediction_time"] = pd.to_datetime(labels["prediction_time"])
            near = asof_by_subject(labels, stays[["subject_id", "intime", "outtime", "stay_id"]],
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
