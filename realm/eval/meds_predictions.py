"""Predictions in the MEDS prediction schema, out of ``realm predict`` and into ``realm evaluate``.

The schema is ``meds-evaluation``'s ``PredictionSchema`` (the MEDS label schema plus
``predicted_boolean_value`` and ``predicted_boolean_probability``); one file holds one model's
predictions for one binary task::

    subject_id int64, prediction_time timestamp[us], boolean_value bool,
    predicted_boolean_value bool, predicted_boolean_probability float32

Writing (:func:`write_meds_predictions`): ``<folder>/<model>/<task>.parquet``, one row per
stay with a defined label (``boolean_value`` is the label; the schema has no "undefined",
so stays without a label have no row, as in realm's MEDS label files).
``prediction_time`` is the stay's cut, ICU admission + the cohort's ``window_hours``: the
moment after which nothing reaches a feature, and the time realm's MEDS export writes for
the stay's labels. A cohort without ICU admission times (PhysioNet 2012) uses the export's
documented anchor (:func:`realm.data.meds.export.anchored_stays`), so predictions line up
with the labels of ``realm data export-meds`` of the same cohort. ``predicted_boolean_value``
is ``probability >= 0.5``.

Reading (:func:`read_meds_predictions`), for files any MEDS model wrote: the task is the
file's name without ``.parquet``, the model the name of its folder. MEDS has no stay id, so a
row's ``stay_id`` is a hash of ``(subject_id, prediction_time)``: two MEDS files of one task
pair row for row in ``realm evaluate``'s comparisons (realm's own MEDS file included), while
a MEDS file and a realm ``predictions.parquet`` do not (compare realm's MEDS file instead).
Probabilities are float32 in the schema: metrics agree with those of realm's own file to
about seven digits.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from realm.cache import atomic_path
from realm.data.meds.export import anchored_stays
from realm.data.meds.schema import validate
from realm.errors import ConfigError, DataError
from realm.eval.predictions import conform_predictions

__all__ = ["MEDS_PREDICTIONS_DIR", "meds_prediction_tables", "write_meds_predictions",
           "is_meds_predictions", "read_meds_predictions"]

log = logging.getLogger(__name__)

#: The folder beside ``predictions.parquet`` that holds the MEDS files.
MEDS_PREDICTIONS_DIR = "meds_predictions"
_SCHEMA = "PredictionSchema"


def _schema_module() -> ModuleType:
    """``meds_evaluation.schema`` (where the MEDS prediction schema lives), or a ConfigError
    saying which extra installs it."""
    try:
        from meds_evaluation import schema
    except ImportError as exc:
        raise ConfigError("MEDS predictions need meds-evaluation: pip install 'realm[meds]'"
                          ) from exc
    return schema


def _validate(table: pa.Table | pa.Schema, path: Path) -> None:
    validate(_SCHEMA, table, path, module=_schema_module())


def _cut_times(cohort_dir: Path, stay_ids: pd.Series) -> pd.Series:
    """Each stay's prediction time: (anchored) ICU admission + the cohort's window."""
    meta_file = cohort_dir / "meta.json"
    if not meta_file.is_file():
        raise DataError("not a cohort folder (no meta.json)", path=meta_file)
    window = json.loads(meta_file.read_text()).get("window_hours")
    if window is None:
        raise DataError("cohort without window_hours", path=meta_file, field="window_hours")
    stays = pd.read_parquet(cohort_dir / "stays.parquet")
    if "intime" not in stays.columns:
        stays["intime"] = pd.NaT
    stays["intime"] = pd.to_datetime(stays["intime"])
    cut = anchored_stays(stays).set_index("stay_id")["intime"] + pd.to_timedelta(float(window),
                                                                                   unit="h")
    return stay_ids.map(cut)


def meds_prediction_tables(frame: pd.DataFrame, cohort_dir: str | Path
                           ) -> dict[tuple[str, str], pa.Table]:
    """realm's predictions table as MEDS prediction tables, one per (model, task)."""
    cohort_dir = Path(cohort_dir)
    labelled = frame[frame["y_true"].notna()]
    times = _cut_times(cohort_dir, labelled["stay_id"])
    schema = _schema_module().PredictionSchema
    arrow = pa.schema([(c, getattr(schema, f"{c}_dtype")) for c in
                       ("subject_id", "prediction_time", "boolean_value",
                        "predicted_boolean_value", "predicted_boolean_probability")])
    tables: dict[tuple[str, str], pa.Table] = {}
    for (model, task), rows in labelled.assign(prediction_time=times).groupby(
            ["model", "task"], sort=True):
        rows = rows.sort_values(["subject_id", "prediction_time"], kind="stable")
        prob = rows["y_prob"].to_numpy(dtype="float64")
        tables[(str(model), str(task))] = pa.table({
            "subject_id": rows["subject_id"].to_numpy(dtype="int64"),
            "prediction_time": rows["prediction_time"].to_numpy().astype("datetime64[us]"),
            "boolean_value": rows["y_true"].to_numpy(dtype="int8").astype(bool),
            "predicted_boolean_value": prob >= 0.5,
            "predicted_boolean_probability": prob.astype("float32"),
        }, schema=arrow)
    return tables


def write_meds_predictions(frame: pd.DataFrame, cohort_dir: str | Path, folder: str | Path
                           ) -> list[Path]:
    """Write ``<folder>/<model>/<task>.parquet`` for every (model, task) of ``frame`` (each
    validated with the MEDS prediction schema); returns the paths."""
    written = []
    for (model, task), table in meds_prediction_tables(frame, cohort_dir).items():
        path = Path(folder) / model / f"{task}.parquet"
        if table.num_rows == 0:
            log.warning("no stay with a %s label: no MEDS predictions file for %s", task, model)
            continue
        _validate(table, path)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        written.append(path)
    return written


def is_meds_predictions(path: str | Path) -> bool:
    """Whether the Parquet file at ``path`` has the MEDS prediction schema's columns (read
    from its footer, without its rows)."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowInvalid):
        return False
    return "prediction_time" in names and "boolean_value" in names


def read_meds_predictions(path: str | Path) -> pd.DataFrame:
    """A MEDS predictions file as realm's predictions table (module docstring: task, model and
    stay ids); DataError names the file and field at fault."""
    path = Path(path)
    table = pq.read_table(path)
    _validate(table, path)
    if "predicted_boolean_probability" not in table.column_names or \
            table.column("predicted_boolean_probability").null_count:
        raise DataError("realm evaluates probabilities: every row needs one", path=path,
                        field="predicted_boolean_probability")
    if table.column("boolean_value").null_count:
        raise DataError(f"{table.column('boolean_value').null_count} rows without a label",
                        path=path, field="boolean_value")
    rows = table.select(["subject_id", "prediction_time", "boolean_value",
                         "predicted_boolean_probability"]).to_pandas()
    keys = rows[["subject_id", "prediction_time"]]
    twice = keys.duplicated()
    if twice.any():
        raise DataError("a (subject_id, prediction_time) appears twice", path=path,
                        row=int(np.flatnonzero(twice)[0]), field="prediction_time")
    return conform_predictions(pd.DataFrame({
        # uint64 hashes seen as int64: the same key gives the same id in every file.
        "stay_id": pd.util.hash_pandas_object(keys, index=False).to_numpy().view("int64"),
        "subject_id": rows["subject_id"].to_numpy(dtype="int64"),
        "task": path.stem,
        "y_true": rows["boolean_value"].astype("int8").to_numpy(),
        "y_prob": rows["predicted_boolean_probability"].to_numpy(dtype="float64"),
        "model": path.parent.name,
    }), path)
