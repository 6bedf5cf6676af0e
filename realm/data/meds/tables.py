"""The cohort tables of a MEDS shard: stay attributes, events, notes and medications, each
row cut at the prediction window and every row left out counted (rules in
:mod:`realm.data.meds.reader`)."""

from __future__ import annotations

import pandas as pd

from realm.data.meds.mapping import MedsMapping
from realm.data.meds.timeline import attach_to_stays
from realm.data.quality import QualityReport
from realm.data.readers.mimic_values import convert_values
from realm.resources import load_variables

__all__ = ["stay_attributes", "events_table", "notes_table", "medications_table", "DATA_FILE",
           "NO_STAY", "TIMED_KINDS"]

#: The file name rows of the MEDS data are counted under in the quality report.
DATA_FILE = "MEDS data"
#: Why a row with no stay is left out.
NO_STAY = "no ICU stay to attach to (before any ICU admission)"
#: The kinds of rows that attach to a stay and become cohort tables.
TIMED_KINDS: tuple[str, ...] = ("time_series", "notes", "medications")


def _keep_in_window(frame: pd.DataFrame, table: str, window_hours: float,
                    quality: QualityReport) -> pd.DataFrame:
    """Drop, with a count, rows without a stay or time and rows after the window."""
    no_stay = frame["stay_id"].isna()
    quality.add(DATA_FILE, table, NO_STAY, int(no_stay.sum()))
    no_time = ~no_stay & frame["hours"].isna()
    quality.add(DATA_FILE, table, "no time", int(no_time.sum()))
    late = frame["hours"] > window_hours
    quality.add(DATA_FILE, table, "after the prediction window", int(late.sum()))
    return frame[~no_stay & ~no_time & ~late.fillna(False)]


def stay_attributes(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping) -> pd.DataFrame:
    """The stay attributes (age, sex, …) as columns of ``stays``."""
    attrs = rows[rows["kind"] == "stay_attributes"].copy()
    statics = attrs[attrs["time"].isna()].drop(columns="stay_id", errors="ignore")
    timed = attach_to_stays(attrs[attrs["time"].notna()], stays, mapping)
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
    # Datasets without an age code (MIMIC-IV's ETL writes the year of birth) give it by birth.
    birth = rows.loc[rows["kind"] == "birth"].groupby("subject_id")["time"].min()
    if len(birth):
        born = pd.to_datetime(out["subject_id"].map(birth))
        out["age"] = out["age"].fillna((out["intime"] - born).dt.total_seconds()
                                       / (365.2425 * 86400))
    for column in ("sex", "ethnicity", "insurance"):
        got = wide[column] if column in wide.columns else pd.Series(dtype="object")
        out[column] = out["stay_id"].map(got).astype("string")
    return out


def _timed(rows: pd.DataFrame, kind: str, stays: pd.DataFrame, mapping: MedsMapping,
           window: float, quality: QualityReport) -> pd.DataFrame:
    """The rows of one kind, attached to their stay and cut at the window."""
    attached = attach_to_stays(rows[rows["kind"] == kind], stays, mapping)
    return _keep_in_window(attached, kind, window, quality)


def _converted(ts: pd.DataFrame) -> pd.DataFrame:
    """``ts`` (realm variables only) with a ``value`` column: ``numeric_value``, or for rows
    whose rule names a conversion, the converted value in the variable's unit (which becomes
    the row's ``unit``); ``converted`` marks those rows."""
    variables = load_variables()
    value = ts["numeric_value"].astype("float64").to_numpy(copy=True)
    unit = ts["unit"].astype("string").to_numpy(dtype=object, na_value=None)
    conversion = ts["conversion"].astype("string").fillna("none")
    for (name, variable), index in ts.groupby([conversion, ts["variable"]]).indices.items():
        if name == "none":
            continue
        value[index], _ = convert_values(name, ts["text_value"].iloc[index],
                                         ts["numeric_value"].iloc[index],
                                         variables[variable].categories)
        unit[index] = variables[variable].unit
    return ts.assign(value=value, unit=unit, converted=(conversion != "none").to_numpy())


def events_table(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping,
                 window: float, quality: QualityReport) -> pd.DataFrame:
    """The time series (realm variables only; every other row counted)."""
    ts = _timed(rows, "time_series", stays, mapping, window, quality)
    known = ts["variable"].isin(list(load_variables()))
    for variable, n in ts.loc[~known, "variable"].value_counts().items():
        quality.add(DATA_FILE, "time_series", f"variable {variable!r} not in variables.csv", int(n))
    ts = _converted(ts[known])
    no_value = ts["value"].isna().to_numpy()
    plain = no_value & ~ts["converted"].to_numpy()
    quality.add(DATA_FILE, "time_series", "no numeric_value", int(plain.sum()))
    quality.add(DATA_FILE, "time_series", "no value after its conversion",
                int((no_value & ~plain).sum()))
    ts = ts[~no_value]
    unit = ts["unit"].astype("string")
    if mapping.unknown_unit is not None:
        unit = unit.mask(unit == mapping.unknown_unit)
    # Categoricals: names repeat millions of times (realm.data.cohort.CATEGORICAL_OK).
    return pd.DataFrame({"stay_id": ts["stay_id"].astype("int64"),
                         "hours": ts["hours"].astype("float32"),
                         "variable": ts["variable"].astype("category"),
                         "value": ts["value"].astype("float64"), "unit": unit.astype("category")})


def notes_table(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping,
                window: float, quality: QualityReport) -> pd.DataFrame:
    """The notes (text from text_value; a note id from the mapping's column, else made)."""
    notes = _timed(rows, "notes", stays, mapping, window, quality)
    no_text = notes["text_value"].isna()
    quality.add(DATA_FILE, "notes", "no text_value", int(no_text.sum()))
    notes = notes[~no_text]
    note_id = (notes[mapping.note_id_column].astype("string")
               if mapping.note_id_column in notes.columns
               else pd.Series(pd.NA, index=notes.index, dtype="string"))
    made = notes["stay_id"].astype("string") + "-" + notes.groupby("stay_id").cumcount().astype(str)
    return pd.DataFrame({"note_id": note_id.fillna(made),
                         "stay_id": notes["stay_id"].astype("int64"), "hours": notes["hours"],
                         "category": notes["category"], "text": notes["text_value"]})


def medications_table(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping,
                      window: float, quality: QualityReport) -> pd.DataFrame:
    """The drug orders (route from text_value)."""
    meds = _timed(rows, "medications", stays, mapping, window, quality)
    return pd.DataFrame({"stay_id": meds["stay_id"].astype("int64"), "hours": meds["hours"],
                         "drug": meds["drug"], "route": meds["text_value"]})
