"""Stays from a MEDS shard's mapped rows, and rows attached to their stay.

The rules (which row makes a stay, how admissions, discharges and deaths are found, how a
row finds its stay) are documented in :mod:`realm.data.meds.reader`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from realm.data.meds.mapping import MedsMapping
from realm.errors import DataError

__all__ = ["Timeline", "build_timeline", "attach_to_stays", "asof_by_subject",
           "ID_STRIDE"]

#: Generated ids (no id column in the data): subject_id × this + the subject's k-th row.
ID_STRIDE = 1000


def _row_ids(frame: pd.DataFrame, column: str | None) -> pd.Series:
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


def asof_by_subject(left: pd.DataFrame, right: pd.DataFrame, on: str, right_on: str,
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
    by_id = pd.Series(part["time"].to_numpy(), index=_row_ids(part, id_column))
    by_id = by_id[by_id.index.notna()]
    by_id = by_id[~by_id.index.duplicated()]
    if by_id.empty:  # mapping through an empty Series would give floats
        return pd.Series(pd.NaT, index=keys.index, dtype=rows["time"].dtype)
    return keys.map(by_id).astype(rows["time"].dtype)


def _first_after(stays: pd.DataFrame, rows: pd.DataFrame, kind: str) -> pd.Series:
    """The subject's first ``kind`` row at or after each stay's intime (aligned with stays)."""
    part = rows.loc[rows["kind"] == kind, ["subject_id", "time"]].rename(columns={"time": "_at"})
    nearest = asof_by_subject(stays, part, "intime", "_at", "forward")["_at"]
    return pd.Series(nearest.to_numpy(), index=stays.index)


@dataclass(frozen=True)
class Timeline:
    """A shard's stays, and the admissions and deaths the readmission label reads."""

    stays: pd.DataFrame
    admissions: pd.DataFrame  # subject_id, admittime, hadm_id
    deaths: pd.DataFrame  # subject_id, dod


def build_timeline(rows: pd.DataFrame, mapping: MedsMapping) -> Timeline:
    """One row per ICU admission, with its discharge, admission times and death."""
    adm = rows[rows["kind"] == "icu_admission"].sort_values(["subject_id", "time"], kind="stable")
    adm = adm[adm["time"].notna()].reset_index(drop=True)
    stays = pd.DataFrame({
        "subject_id": adm["subject_id"].astype("int64"),
        "stay_id": _generated_ids(adm, _row_ids(adm, mapping.stay_id_column), "ICU admission"),
        "intime": adm["time"],
        "icu_type": adm["icu_type"].astype("string"),
        "hadm_id": _row_ids(adm, mapping.hadm_id_column),
    })
    stays["outtime"] = (_time_by_id(rows, "icu_discharge", mapping.stay_id_column, stays["stay_id"])
                        .fillna(_first_after(stays, rows, "icu_discharge")))
    hosp = rows[rows["kind"] == "hospital_admission"]
    admissions = pd.DataFrame({"subject_id": hosp["subject_id"].astype("int64"),
                               "admittime": hosp["time"],
                               "_hadm": _row_ids(hosp, mapping.hadm_id_column)})
    admissions = admissions.sort_values(["subject_id", "admittime"], kind="stable")
    admissions["_hadm"] = _generated_ids(admissions, admissions["_hadm"], "hospital admission")
    # An admission id on the ICU row wins: MIMIC has ICU stays that begin hours before their
    # hospital admission is recorded (emergency-department boarding).
    matched = asof_by_subject(stays, admissions, "intime", "admittime", "backward")
    stays["hadm_id"] = stays["hadm_id"].fillna(matched["_hadm"].astype("Int64"))
    admitted = admissions.drop_duplicates("_hadm").set_index("_hadm")["admittime"]
    stays["admittime"] = (stays["hadm_id"].map(admitted).astype(rows["time"].dtype)
                          if len(admitted) else pd.Series(pd.NaT, index=stays.index,
                                                          dtype=rows["time"].dtype))
    stays["dischtime"] = (_time_by_id(rows, "hospital_discharge", mapping.hadm_id_column,
                                     stays["hadm_id"])
                          .fillna(_first_after(stays, rows, "hospital_discharge")))
    death = (rows[rows["kind"] == "death"].groupby("subject_id")["time"].min()
             .rename("_death").reset_index())
    stays = stays.merge(death, on="subject_id", how="left")
    start = stays["admittime"].fillna(stays["intime"])
    inside = (stays["_death"] >= start) & ~(stays["_death"] > stays["dischtime"])
    by_admission = _time_by_id(rows, "death", mapping.hadm_id_column, stays["hadm_id"])
    stays["deathtime"] = by_admission.fillna(stays["_death"].where(inside.fillna(False)))
    stays["los_hours"] = (stays["outtime"] - stays["intime"]) / pd.Timedelta(hours=1)
    return Timeline(stays=stays.drop(columns=["_death"]),
                     admissions=admissions.rename(columns={"_hadm": "hadm_id"}),
                     deaths=death.rename(columns={"_death": "dod"}))


def attach_to_stays(rows: pd.DataFrame, stays: pd.DataFrame, mapping: MedsMapping) -> pd.DataFrame:
    """``rows`` with the stay they belong to (``stay_id``) and ``hours`` since its intime."""
    given = _row_ids(rows, mapping.stay_id_column)
    # A stay starts at its ICU admission; the first stay of a hospital admission already at
    # the admission, so drugs ordered and notes written on the ward before ICU reach it.
    starts = stays[["subject_id", "stay_id", "intime", "admittime"]].sort_values("intime")
    first = ~starts.duplicated(["subject_id", "admittime"]) & starts["admittime"].notna()
    starts["_start"] = starts["intime"].where(~first, starts[["intime", "admittime"]].min(axis=1))
    near = asof_by_subject(rows.assign(_given=given.to_numpy()),
                           starts[["subject_id", "_start", "stay_id"]]
                           .rename(columns={"stay_id": "_near"}), "time", "_start", "backward")
    stay = near["_given"].astype("Int64").fillna(near["_near"].astype("Int64"))
    out = rows.reset_index(drop=True).assign(stay_id=stay.to_numpy())
    intime = out["stay_id"].map(stays.set_index("stay_id")["intime"])
    out["hours"] = (out["time"] - intime) / pd.Timedelta(hours=1)
    return out
