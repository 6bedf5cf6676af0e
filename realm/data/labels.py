"""The label definitions: pure functions over stay, admission and patient tables.

Every reader computes its labels here, so "in-hospital mortality" and "30-day readmission"
mean the same thing whatever the source. The definitions (see :mod:`realm.data.cohort`):

``mortality``
    1 when the subject died during the hospital admission that holds the ICU stay
    (``deathtime`` not null and at or before ``dischtime``, or ``hospital_expire_flag == 1``),
    else 0. NA when the ICU stay is shorter than ``window_hours``: the prediction is made
    ``window_hours`` after ICU admission, so shorter stays have no prediction time
    (mimic3-benchmarks' in-hospital-mortality rule).

``readmission_30d``
    Measured from this admission's discharge time ``D``: 1 when the same subject has a new
    admission with ``admittime`` in ``(D, D + days]``, or dies (``patients.dod`` or an
    admission's ``deathtime``) in ``(D, D + days]``; else 0. The right edge is inclusive:
    an event exactly ``days`` days after discharge counts, one a minute later does not. NA
    when the admission ended in death (as ``mortality`` defines it) or the ICU stay is
    shorter than ``window_hours``.

Timestamps are compared as given. MIMIC's ``dod`` is a date (midnight), so a death later on
the calendar day of discharge is not a post-discharge death, and one on day ``days`` counts.
"""

from __future__ import annotations

import pandas as pd

from realm.errors import DataError

__all__ = ["mortality_labels", "readmission_labels", "stay_hours", "died_in_hospital"]


def _require(frame: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    for col in columns:
        if col not in frame.columns:
            raise DataError(f"{table} table lacks a column the labels need", field=col)


def _ts(series: pd.Series) -> pd.Series:
    """The column as datetimes (strings and dates are accepted; NaT stays NaT)."""
    return pd.to_datetime(series)


def stay_hours(stays: pd.DataFrame) -> pd.Series:
    """ICU length of stay in hours: ``los_hours`` when present, else outtime - intime."""
    if "los_hours" in stays.columns and stays["los_hours"].notna().all():
        return stays["los_hours"].astype("float64")
    _require(stays, ("intime", "outtime"), "stays")
    return (_ts(stays["outtime"]) - _ts(stays["intime"])).dt.total_seconds() / 3600.0


def died_in_hospital(stays: pd.DataFrame) -> pd.Series:
    """True where the admission ended in death (deathtime <= dischtime or expire flag 1)."""
    _require(stays, ("dischtime", "deathtime"), "stays")
    death = _ts(stays["deathtime"])
    died = (death.notna() & (death <= _ts(stays["dischtime"]))).fillna(False)
    if "hospital_expire_flag" in stays.columns:
        flag = pd.to_numeric(stays["hospital_expire_flag"], errors="coerce")
        died = died | (flag == 1).fillna(False)
    return died.astype(bool)


def mortality_labels(stays: pd.DataFrame, window_hours: float = 48.0) -> pd.Series:
    """In-hospital mortality per stay (Int8, aligned with ``stays.index``).

    ``stays`` needs intime/outtime (or los_hours), dischtime, deathtime and optionally
    hospital_expire_flag.
    """
    died = died_in_hospital(stays)
    out = pd.Series(died.astype("int8"), index=stays.index, dtype="Int8", name="mortality")
    # NaN hours (no outtime) fail ">=" too: an unknown length gives no label.
    out[~(stay_hours(stays) >= float(window_hours))] = pd.NA
    return out


def readmission_labels(
    stays: pd.DataFrame,
    admissions: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    days: int = 30,
    window_hours: float = 48.0,
) -> pd.Series:
    """30-day readmission or death after discharge per stay (Int8, aligned with ``stays``).

    ``admissions`` holds every admission of the source (subject_id, hadm_id, admittime,
    deathtime), not only the cohort's, so a readmission that is itself excluded from the
    cohort still counts. ``patients`` holds subject_id and dod.
    """
    _require(stays, ("subject_id", "hadm_id", "dischtime"), "stays")
    _require(admissions, ("subject_id", "hadm_id", "admittime"), "admissions")
    _require(patients, ("subject_id", "dod"), "patients")
    horizon = pd.Timedelta(days=days)
    base = pd.DataFrame(
        {
            "row": range(len(stays)),
            "subject_id": stays["subject_id"].to_numpy(),
            "hadm_id": stays["hadm_id"].to_numpy(),
            "disch": _ts(stays["dischtime"]).to_numpy(),
        }
    )
    # Every later event of the subject: a new admission or a recorded death.
    events = [
        pd.DataFrame(
            {
                "subject_id": admissions["subject_id"].to_numpy(),
                "other_hadm": admissions["hadm_id"].to_numpy(),
                "when": _ts(admissions["admittime"]).to_numpy(),
            }
        ),
        pd.DataFrame(
            {"subject_id": patients["subject_id"].to_numpy(), "other_hadm": pd.NA,
             "when": _ts(patients["dod"]).to_numpy()}
        ),
    ]
    if "deathtime" in admissions.columns:
        events.append(
            pd.DataFrame(
                {"subject_id": admissions["subject_id"].to_numpy(), "other_hadm": pd.NA,
                 "when": _ts(admissions["deathtime"]).to_numpy()}
            )
        )
    later = pd.concat(events, ignore_index=True).dropna(subset=["when"])  # no event, no row
    pairs = base.merge(later, on="subject_id", how="inner")
    # The admission's own admittime never counts as a readmission.
    other = pd.to_numeric(pairs["other_hadm"], errors="coerce")
    same = other.notna() & (other == pd.to_numeric(pairs["hadm_id"], errors="coerce"))
    delta = pairs["when"] - pairs["disch"]
    hit = ~same & (delta > pd.Timedelta(0)) & (delta <= horizon)
    positive = set(pairs.loc[hit, "row"].tolist())
    values = [1 if i in positive else 0 for i in range(len(stays))]
    out = pd.Series(values, index=stays.index, dtype="Int8", name="readmission_30d")
    out[_ts(stays["dischtime"]).isna().to_numpy()] = pd.NA
    out[died_in_hospital(stays).to_numpy()] = pd.NA
    out[(~(stay_hours(stays) >= float(window_hours))).to_numpy()] = pd.NA
    return out
