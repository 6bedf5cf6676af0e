"""PhysioNet 2012 reader: tiny generated records in the real layouts, and the real sets."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.data.readers.physionet2012 import (
    RecordText,
    discover_sets,
    parse_records,
    read_physionet2012,
)
from realm.data.quality import QualityReport
from realm.errors import DataError

OUTCOME_HEADER = "RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"


def record_text(rid: int, rows: list[tuple[str, str, str]], *, age: str = "54",
                gender: str = "0", height: str = "-1", icu: str = "4",
                weight: str = "80.5") -> str:
    """One record file exactly as PhysioNet ships it."""
    head = [("00:00", "RecordID", str(rid)), ("00:00", "Age", age), ("00:00", "Gender", gender),
            ("00:00", "Height", height), ("00:00", "ICUType", icu), ("00:00", "Weight", weight)]
    return "Time,Parameter,Value\n" + "".join(f"{t},{p},{v}\n" for t, p, v in head + rows)


def write_set(root: Path, letter: str, records: dict[int, str],
              outcomes: list[str], *, as_tar: bool) -> None:
    folder = root / f"set-{letter}"
    folder.mkdir(parents=True)
    for rid, text in records.items():
        (folder / f"{rid}.txt").write_text(text)
    if as_tar:
        with tarfile.open(root / f"set-{letter}.tar.gz", "w:gz") as archive:
            archive.add(folder, arcname=f"set-{letter}")
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    (root / f"Outcomes-{letter}.txt").write_text(OUTCOME_HEADER + "\n" + "\n".join(outcomes) + "\n")


def tiny_root(root: Path, *, as_tar: bool) -> Path:
    """Two sets, three stays, with every special case the reader must count."""
    a = {
        132539: record_text(132539, [
            ("00:07", "HR", "73"), ("00:07", "GCS", "15"), ("00:07", "MAP", "-1"),
            ("01:37", "HR", "60"), ("01:37", "SAPS-I", "12"), ("02:00", "Weight", "81"),
            ("48:00", "HR", "70"), ("49:30", "HR", "99"),
        ]),
        132540: record_text(132540, [("00:30", "Lactate", "2.5"), ("10:05", "MechVent", "1")],
                            gender="1", height="175.3", icu="2"),
    }
    b = {142000: record_text(142000, [("03:15", "Temp", "37.2")], gender="-1", icu="3")}
    write_set(root, "a", a, ["132539,6,1,5,-1,0", "132540,16,8,-1,-1,1"], as_tar=as_tar)
    write_set(root, "b", b, ["142000,20,3,2,1,1"], as_tar=as_tar)
    return root


@pytest.fixture(params=[False, True], ids=["folders", "tar.gz"])
def cohort(request: pytest.FixtureRequest, tmp_path: Path):
    return read_physionet2012(tiny_root(tmp_path, as_tar=request.param), progress=False)


def test_stays_and_labels(cohort) -> None:
    stays = cohort.stays.set_index("stay_id")
    assert list(stays.index) == [132539, 132540, 142000]
    assert (stays["subject_id"] == stays.index).all()
    assert list(stays["sex"].astype(object).fillna("NA")) == ["F", "M", "NA"]
    assert list(stays["icu_type"]) == ["Surgical ICU", "Cardiac Surgery Recovery Unit",
                                       "Medical ICU"]
    assert pd.isna(stays.at[132539, "height"]) and stays.at[132540, "height"] == 175.3
    assert stays.at[132539, "weight"] == 80.5
    assert stays.at[132539, "los_hours"] == 120.0 and pd.isna(stays.at[132540, "los_hours"])
    assert list(stays["set"]) == ["a", "a", "b"]
    assert stays.at[132540, "saps1"] == 16 and stays.at[142000, "sofa"] == 3
    assert (stays["source"] == "physionet2012").all()
    labels = cohort.labels.set_index("stay_id")
    assert list(labels["mortality"]) == [0, 1, 1]
    assert labels["readmission_30d"].isna().all()
    assert cohort.meta["sets"] == ["a", "b"] and cohort.meta["window_hours"] == 48.0


def test_events_are_canonical_and_cut_at_the_window(cohort) -> None:
    ev = cohort.events
    first = ev[ev["stay_id"] == 132539]
    # sorted by time; rows at the same time keep their order in the file
    assert list(zip(first["variable"], first["value"])) == [
        ("heart_rate", 73.0), ("gcs_total", 15.0), ("heart_rate", 60.0),
        ("weight", 81.0),  # a later Weight row is a measurement, not the descriptor
        ("heart_rate", 70.0),  # exactly at the prediction time: kept
    ]
    assert np.allclose(first["hours"], [7 / 60, 7 / 60, 1 + 37 / 60, 2.0, 48.0])
    assert set(ev["variable"]) <= {"gcs_total", "heart_rate", "weight", "lactate",
                                   "mech_vent", "temperature"}
    assert ev.loc[ev["variable"] == "heart_rate", "unit"].eq("bpm").all()
    assert "SAPS-I" not in set(ev["variable"]) and "saps1" not in set(ev["variable"])


def test_quality_counts_every_skipped_row(cohort) -> None:
    counts = cohort.quality.counts
    assert counts["set-a|MAP|not recorded (-1)"] == 1
    assert counts["set-a|SAPS-I|unknown parameter"] == 1
    assert cohort.quality.examples["set-a|SAPS-I|unknown parameter"] == ["132539.txt row 12"]
    assert counts["set-a|HR|after the 48 h window"] == 1
    assert counts["set-a|Height|descriptor not recorded (-1), kept as NA"] == 1
    assert counts["set-b|Gender|descriptor not recorded (-1), kept as NA"] == 1
    assert counts["Outcomes-a.txt|Length_of_stay|not recorded (-1), kept as NA"] == 1
    # 11 measurement rows in the files: 3 counted above as skipped, the other 8 are events.
    assert len(cohort.events) == 11 - 3


def test_shorter_window_and_set_choice(tmp_path: Path) -> None:
    root = tiny_root(tmp_path, as_tar=True)
    cohort = read_physionet2012(root, sets=["a"], window_hours=1.0, progress=False)
    assert list(cohort.stays["stay_id"]) == [132539, 132540]
    assert cohort.events["hours"].max() <= 1.0
    assert cohort.quality.counts["set-a|HR|after the 1 h window"] == 3
    with pytest.raises(DataError, match="set 'c' not found"):
        read_physionet2012(root, sets=["c"], progress=False)


def test_folder_wins_over_archive(tmp_path: Path) -> None:
    tiny_root(tmp_path, as_tar=True)
    (tmp_path / "set-a").mkdir()
    assert discover_sets(tmp_path) == {"a": tmp_path / "set-a", "b": tmp_path / "set-b.tar.gz"}


MALFORMED = [
    ("00:10,HR,7,3", None, "expected 3 comma-separated fields (Time,Parameter,Value)"),
    ("0010,HR,73", "Time", "expected HH:MM"),
    ("00:75,HR,73", "Time", "expected HH:MM"),
    ("00:10,,73", "Parameter", "empty parameter name"),
    ("00:10,HR,abc", "Value", "not a number"),
    ("00:10,HR,nan", "Value", "not a number"),
    ("00:10,HR,1e400", "Value", "not a finite number"),
]


def _one_bad_row(tmp_path: Path, line: str, as_tar: bool) -> None:
    good = record_text(2, [("00:10", "HR", "73")])
    bad = record_text(1, [("00:05", "HR", "70")]) + line + "\n" + "00:20,HR,75\n"
    write_set(tmp_path, "a", {1: bad, 2: good}, ["1,1,1,1,1,0", "2,1,1,1,1,0"], as_tar=as_tar)


@pytest.mark.parametrize(("line", "field", "reason"), MALFORMED)
@pytest.mark.parametrize("as_tar", [False, True])
def test_strict_malformed_row_names_file_and_row(tmp_path: Path, line: str, field: str | None,
                                                 reason: str, as_tar: bool) -> None:
    _one_bad_row(tmp_path, line, as_tar)
    with pytest.raises(DataError) as err:
        read_physionet2012(tmp_path, progress=False, strict=True)
    # header = row 1, six descriptors, one good measurement, then the bad row
    assert "1.txt" in str(err.value) and err.value.row == 9 and err.value.field == field
    assert reason in str(err.value)


@pytest.mark.parametrize(("line", "field", "reason"), MALFORMED)
def test_malformed_row_is_counted_and_the_stay_kept(tmp_path: Path, line: str, field: str | None,
                                                    reason: str) -> None:
    _one_bad_row(tmp_path, line, as_tar=False)
    cohort = read_physionet2012(tmp_path, progress=False)
    assert sorted(cohort.stays["stay_id"]) == [1, 2]
    problems = cohort.quality.to_dict()["problems"]
    [entry] = [p for p in problems if p["reason"] == reason]
    assert entry["count"] == 1 and entry["examples"] == ["1.txt row 9"]
    assert entry["field"] == (field or "Time,Parameter,Value")
    hr = cohort.events[(cohort.events["stay_id"] == 1) & (cohort.events["variable"] == "heart_rate")]
    assert len(hr) == 2  # the rows around the bad one are kept


def test_unnamed_parameter_rows_of_a_set_c_copy_are_counted(tmp_path: Path) -> None:
    """The public set-C copy's empty parameter names (``06:32,,2.7``) spread over files."""
    files = {i: record_text(i, [("00:05", "HR", "70"), ("06:32", "", "2.7"), ("07:00", "HR", "71")])
             for i in (1, 2, 3)}
    write_set(tmp_path, "a", files, [f"{i},1,1,1,1,0" for i in (1, 2, 3)], as_tar=True)
    cohort = read_physionet2012(tmp_path, progress=False)
    assert len(cohort.stays) == 3
    assert cohort.quality.total("empty parameter name") == 3


def test_padded_parameter_is_stripped_and_counted(tmp_path: Path) -> None:
    _one_bad_row(tmp_path, "00:10,HR ,80", as_tar=False)
    cohort = read_physionet2012(tmp_path, progress=False)
    assert cohort.quality.total("parameter name padded with spaces, stripped") == 1
    hr = cohort.events[(cohort.events["stay_id"] == 1) & (cohort.events["variable"] == "heart_rate")]
    assert sorted(hr["value"]) == [70.0, 75.0, 80.0]


def test_a_mostly_malformed_file_is_unreadable(tmp_path: Path) -> None:
    bad = record_text(1, []) + "".join(f"00:{m:02d},HR,x\n" for m in range(10, 40))
    write_set(tmp_path, "a", {1: bad}, ["1,1,1,1,1,0"], as_tar=False)
    with pytest.raises(DataError, match="1.txt.*unreadable: 30 of 36 rows malformed"):
        read_physionet2012(tmp_path, progress=False)


def test_a_byte_order_mark_before_the_header_is_accepted(tmp_path: Path) -> None:
    write_set(tmp_path, "a", {1: "\ufeff" + record_text(1, [("00:05", "HR", "70")])},
              ["1,1,1,1,1,0"], as_tar=False)
    assert len(read_physionet2012(tmp_path, progress=False).stays) == 1


def test_missing_outcomes_and_broken_archive(tmp_path: Path) -> None:
    write_set(tmp_path, "a", {1: record_text(1, [])}, [], as_tar=True)
    (tmp_path / "Outcomes-a.txt").unlink()
    with pytest.raises(DataError, match="Outcomes-a.txt.*missing outcomes file"):
        read_physionet2012(tmp_path, progress=False)
    (tmp_path / "Outcomes-a.txt").write_text(OUTCOME_HEADER + "\n1,1,1\n")
    with pytest.raises(DataError, match="row 2.*expected 6 fields"):
        read_physionet2012(tmp_path, progress=False)
    (tmp_path / "Outcomes-a.txt").write_text(OUTCOME_HEADER + "\n1,1,1,1,1,0\n")
    archive = tmp_path / "set-a.tar.gz"
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(DataError, match="set-a.tar.gz.*unreadable"):
        read_physionet2012(tmp_path, progress=False)


def test_record_id_must_match_file_name(tmp_path: Path) -> None:
    write_set(tmp_path, "a", {5: record_text(6, [])}, ["6,1,1,1,1,0"], as_tar=False)
    with pytest.raises(DataError, match="5.txt.*RecordID 6"):
        read_physionet2012(tmp_path, sets=["a"], progress=False)
    twice = tmp_path / "twice"
    write_set(twice, "a", {6: record_text(6, [])}, ["6,1,1,1,1,0"], as_tar=False)
    write_set(twice, "b", {6: record_text(6, [])}, ["6,1,1,1,1,0"], as_tar=True)
    with pytest.raises(DataError, match=r"set-b.tar.gz:set-b/6.txt.*RecordID 6 also in .*set-a"):
        read_physionet2012(twice, progress=False)


# -- property test of the record parser -------------------------------------------------
_param = st.sampled_from(["HR", "MAP", "GCS", "Lactate", "Urine", "FiO2", "Weight", "XYZ"])
_value = st.one_of(st.integers(-5, 10_000).map(float),
                   st.floats(-1e4, 1e4, allow_nan=False).map(lambda v: round(v, 3)))
_row = st.tuples(st.integers(0, 60), st.integers(0, 59), _param, _value)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_row, max_size=25), min_size=1, max_size=6))
def test_parser_round_trips_generated_records(files: list[list[tuple]]) -> None:
    records, expected = [], []
    for i, rows in enumerate(files):
        lines = ["Time,Parameter,Value"] + [f"{h:02d}:{m:02d},{p},{v!r}" for h, m, p, v in rows]
        records.append(RecordText("a", f"{i}.txt", f"set-a/{i}.txt", "\n".join(lines) + "\n"))
        expected += [(i, n + 2, h + m / 60.0, p, v) for n, (h, m, p, v) in enumerate(rows)]
    parsed = parse_records(records)
    got = list(zip(parsed["file"], parsed["row"], parsed["hours"],
                   parsed["parameter"].astype(str), parsed["value"]))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g[:2] == e[:2] and g[3] == e[3]
        assert np.isclose(g[2], e[2]) and g[4] == e[4]


# -- the real sets ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.shared_data
def test_real_sets_a_and_b(physionet_root: Path) -> None:
    cohort = read_physionet2012(physionet_root, progress=False)
    assert len(cohort.stays) == 8000 and cohort.stays["stay_id"].is_unique
    deaths = cohort.labels.merge(cohort.stays[["stay_id", "set"]]).groupby("set")["mortality"]
    assert deaths.sum().to_dict() == {"a": 554, "b": 568}
    assert cohort.events["hours"].max() <= 48.0
    assert cohort.quality.total("unknown parameter") == 0
    assert len(cohort.meta["variables"]) >= 35


_bad_line = st.one_of(
    st.sampled_from(["00:10,,73", "0010,HR,73", "00:75,HR,73", "00:10,HR,abc", "00:10,HR,1e400",
                     "00:10,HR,7,3", '00:10,"HR",73', "00:10,HR", "x", "-1:00,HR,5"]),
    # free text without a comma is never a row
    st.text(st.characters(exclude_characters="\r\n,", exclude_categories=("Cs",)), min_size=1,
            max_size=12).filter(str.strip),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.lists(_row, max_size=12),
                          st.lists(st.tuples(st.integers(0, 12), _bad_line), max_size=3)),
                min_size=1, max_size=4))
def test_malformed_rows_never_cost_a_good_row(files: list[tuple[list[tuple], list[tuple]]]) -> None:
    """Random malformations: every well-formed row survives with its line number and value,
    every malformed row is counted, and nothing escapes but a RealmError."""
    records, expected, injected = [], {}, 0
    for i, (rows, bad) in enumerate(files):
        lines: list[tuple[str, tuple | None]] = [(f"{h:02d}:{m:02d},{p},{v!r}", (h, m, p, v))
                                                 for h, m, p, v in rows]
        for at, line in sorted(bad, reverse=True):
            lines.insert(min(at, len(lines)), (line, None))
        injected += len(bad)
        text = "Time,Parameter,Value\n" + "\n".join(line for line, _ in lines) + "\n"
        records.append(RecordText("a", f"{i}.txt", f"set-a/{i}.txt", text))
        expected.update({(i, n): row for n, (_, row) in enumerate(lines, start=2) if row is not None})
    quality = QualityReport()
    parsed = parse_records(records, quality, max_bad_fraction=1.0)
    got = {(f, r): (p, v) for f, r, p, v in zip(parsed["file"], parsed["row"],
                                                 parsed["parameter"].astype(str), parsed["value"])}
    assert set(got) == set(expected)
    assert all(got[k] == (row[2], row[3]) for k, row in expected.items())
    assert quality.total() == injected
