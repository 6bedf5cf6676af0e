"""Hand-checked label definitions around the 30-day and 48-hour edges."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.data.labels import mortality_labels, readmission_labels
from realm.errors import DataError

ADMIT = pd.Timestamp("2150-03-01 08:00")
DISCH = pd.Timestamp("2150-03-10 14:30")


def _stays(los_hours: float = 60.0, death=None, flag: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "stay_id": [1], "subject_id": [7], "hadm_id": [70],
        "intime": [ADMIT], "outtime": [ADMIT + pd.Timedelta(hours=los_hours)],
        "admittime": [ADMIT], "dischtime": [DISCH], "deathtime": [death],
        "hospital_expire_flag": [flag],
    })


def _admissions(next_admit=None) -> pd.DataFrame:
    rows = [{"subject_id": 7, "hadm_id": 70, "admittime": ADMIT, "deathtime": pd.NaT}]
    if next_admit is not None:
        rows.append({"subject_id": 7, "hadm_id": 71, "admittime": next_admit, "deathtime": pd.NaT})
    return pd.DataFrame(rows)


def _patients(dod=None) -> pd.DataFrame:
    return pd.DataFrame({"subject_id": [7], "dod": [pd.Timestamp(dod) if dod is not None else pd.NaT]})


def _readmit(stays=None, next_admit=None, dod=None) -> object:
    stays = _stays() if stays is None else stays
    return readmission_labels(stays, _admissions(next_admit), _patients(dod)).iloc[0]


def test_readmission_exactly_30_days_counts() -> None:
    assert _readmit(next_admit=DISCH + pd.Timedelta(days=30)) == 1


def test_readmission_30_days_and_a_minute_does_not() -> None:
    assert _readmit(next_admit=DISCH + pd.Timedelta(days=30, minutes=1)) == 0


def test_readmission_at_discharge_time_does_not_count() -> None:
    # The window is (discharge, discharge + 30 d]: open on the left.
    assert _readmit(next_admit=DISCH) == 0


def test_death_29_days_after_discharge_counts() -> None:
    assert _readmit(dod=DISCH.normalize() + pd.Timedelta(days=29)) == 1


def test_death_31_days_after_discharge_does_not() -> None:
    assert _readmit(dod=DISCH.normalize() + pd.Timedelta(days=31)) == 0


def test_no_later_event_is_zero() -> None:
    assert _readmit() == 0


def test_in_hospital_death_is_mortality_one_and_readmission_na() -> None:
    stays = _stays(death=DISCH)
    assert mortality_labels(stays).iloc[0] == 1
    assert pd.isna(_readmit(stays=stays, dod=DISCH.normalize()))


def test_expire_flag_alone_marks_death() -> None:
    stays = _stays(flag=1)
    assert mortality_labels(stays).iloc[0] == 1
    assert pd.isna(_readmit(stays=stays))


def test_death_after_discharge_is_not_in_hospital_mortality() -> None:
    stays = _stays(death=DISCH + pd.Timedelta(days=2))
    assert mortality_labels(stays).iloc[0] == 0


def test_short_stay_has_no_labels() -> None:
    stays = _stays(los_hours=47.9, death=DISCH)
    assert pd.isna(mortality_labels(stays).iloc[0])
    assert pd.isna(_readmit(stays=_stays(los_hours=47.9), next_admit=DISCH + pd.Timedelta(days=1)))


def test_stay_of_exactly_the_window_is_labelled() -> None:
    assert mortality_labels(_stays(los_hours=48.0)).iloc[0] == 0
    assert pd.isna(mortality_labels(_stays(los_hours=30.0), window_hours=48.0).iloc[0])
    assert mortality_labels(_stays(los_hours=30.0), window_hours=24.0).iloc[0] == 0


def test_unknown_length_has_no_label() -> None:
    stays = _stays()
    stays["outtime"] = pd.NaT
    assert pd.isna(mortality_labels(stays).iloc[0])


def test_labels_keep_index_and_dtype() -> None:
    stays = _stays().set_axis([42])
    out = mortality_labels(stays)
    assert list(out.index) == [42] and str(out.dtype) == "Int8"
    assert str(readmission_labels(stays, _admissions(), _patients()).dtype) == "Int8"


def test_missing_column_names_it() -> None:
    with pytest.raises(DataError, match="dischtime"):
        mortality_labels(_stays().drop(columns=["dischtime"]))
    with pytest.raises(DataError, match="dod"):
        readmission_labels(_stays(), _admissions(), pd.DataFrame({"subject_id": [7]}))


def test_other_subjects_do_not_count() -> None:
    admissions = pd.concat([
        _admissions(),
        pd.DataFrame([{"subject_id": 8, "hadm_id": 80, "admittime": DISCH + pd.Timedelta(days=1),
                       "deathtime": pd.NaT}]),
    ])
    assert readmission_labels(_stays(), admissions, _patients()).iloc[0] == 0


@settings(max_examples=30, deadline=None)
@given(minutes=st.integers(min_value=-3 * 24 * 60, max_value=40 * 24 * 60))
def test_readmission_matches_the_definition(minutes: int) -> None:
    """For any next admission time, the label is 1 exactly when 0 < delay <= 30 days."""
    delay = pd.Timedelta(minutes=minutes)
    expected = int(pd.Timedelta(0) < delay <= pd.Timedelta(days=30))
    assert _readmit(next_admit=DISCH + delay) == expected
