"""Malformed rows in MIMIC tables are counted and skipped, never fatal (``strict`` raises).

Each case appends to a clean fixture table a copy of one of its rows with one field broken
(or a copy unchanged: an id listed twice). The lenient read must equal the clean read
table for table and count the broken row once in ``quality.json``; a strict read must
raise a DataError naming the file.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mimic_fixtures import write_mimic3

from realm.data.readers.mimic import read_mimic
from realm.errors import DataError

TABLES = ("stays", "events", "notes", "labels")


def append_copy(path: Path, row: int, changes: dict[str, str]) -> None:
    """Append a copy of data row ``row`` (0-based) of ``path`` with ``changes`` applied."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, copy = rows[0], list(rows[1 + row])
    for column, value in changes.items():
        copy[header.index(column)] = value
    with path.open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerow(copy)


def append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\r\n")  # the fixture writer ends rows with CRLF


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = write_mimic3(tmp_path_factory.mktemp("clean") / "m3", gz=False)
    return read_mimic(root, "mimic3", progress=False)


# (table, row to copy, changed fields, field the count is filed under)
CASES = [
    ("CHARTEVENTS", 0, {"VALUENUM": "abc"}, "VALUENUM"),
    ("CHARTEVENTS", 0, {"VALUENUM": "1e400"}, "VALUENUM"),
    ("CHARTEVENTS", 0, {"CHARTTIME": "not a time"}, "CHARTTIME"),
    ("CHARTEVENTS", 0, {"ICUSTAY_ID": "12x"}, "ICUSTAY_ID"),
    ("CHARTEVENTS", 0, {"ITEMID": "2200 45"}, "ITEMID"),
    ("LABEVENTS", 0, {"CHARTTIME": "2101-13-45 99:00:00"}, "CHARTTIME"),
    ("LABEVENTS", 0, {"HADM_ID": "one hundred"}, "HADM_ID"),
    ("ICUSTAYS", 1, {"ICUSTAY_ID": "x2000"}, "ICUSTAY_ID"),
    ("ICUSTAYS", 1, {"INTIME": "2101-02-30 00:00:00"}, "INTIME"),
    ("ICUSTAYS", 1, {}, "ICUSTAY_ID"),          # the same stay twice
    ("ADMISSIONS", 0, {"HADM_ID": "1O0"}, "HADM_ID"),
    ("ADMISSIONS", 0, {}, "HADM_ID"),           # the same admission twice
    ("PATIENTS", 2, {"DOB": "yesterday"}, "DOB"),
    ("PATIENTS", 2, {}, "SUBJECT_ID"),          # the same patient twice
    ("NOTEEVENTS", 0, {"CHARTTIME": "10 h"}, "CHARTTIME"),
    ("D_ITEMS", 0, {"ITEMID": "n/a"}, "ITEMID"),
]


@pytest.mark.parametrize(("table", "row", "changes", "field"), CASES,
                         ids=[f"{c[0]}-{c[3]}-{'+'.join(c[2].values()) or 'twice'}" for c in CASES])
def test_malformed_row_is_counted_and_skipped(tmp_path, clean, table, row, changes, field) -> None:
    root = write_mimic3(tmp_path / "m3", gz=False)
    append_copy(root / f"{table}.csv", row, changes)
    cohort = read_mimic(root, "mimic3", progress=False)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(cohort, name), getattr(clean, name), obj=name)
    before, after = clean.quality.counts, cohort.quality.counts
    extra = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert list(extra.values()) == [1], extra
    file, got_field, _ = next(iter(extra)).split("|", 2)
    assert (file, got_field) == (f"{table}.csv", field)

    with pytest.raises(DataError, match=rf"{table}\.csv"):
        read_mimic(root, "mimic3", progress=False, strict=True)


@pytest.mark.parametrize("line", ["1,1,100", "1,1,100,1000,220045,2101-01-01 09:00:00,,17,81,81,bpm,0,0,,,extra"])
def test_row_with_wrong_number_of_fields(tmp_path, clean, line) -> None:
    root = write_mimic3(tmp_path / "m3", gz=False)
    append_line(root / "CHARTEVENTS.csv", line)
    cohort = read_mimic(root, "mimic3", progress=False)
    pd.testing.assert_frame_equal(cohort.events, clean.events)
    rows = [p for p in cohort.quality.to_dict()["problems"]
            if p["file"] == "CHARTEVENTS.csv" and p["field"] == "(row)"]
    assert [r["count"] for r in rows] == [1] and "malformed row" in rows[0]["reason"]
    with pytest.raises(DataError, match=r"CHARTEVENTS\.csv"):
        read_mimic(root, "mimic3", progress=False, strict=True)


# -- property: random malformations of event values and times ---------------------------------
# Rows whose copies the scan reads (mapped itemid, inside the window, not ERROR=1, a number in
# VALUENUM): a broken copy of one of them is a row the reader meets and must count.
EVENT_ROWS = {"CHARTEVENTS": (0, 1, 6), "LABEVENTS": (0, 4)}
_LETTERS = st.text(alphabet=st.characters(categories=("L", "P", "S", "Zs")), min_size=1, max_size=12)
BAD_NUMBER = st.one_of(
    st.sampled_from(["abc", "1e400", "-1e999", "nan", "inf", "--3", "4,1", '7"', "1.2.3", "١٢"]),
    _LETTERS.filter(lambda t: t.strip() != "" and not t.strip().lower().startswith(("inf", "nan"))),
)
BAD_TIME = st.one_of(
    st.sampled_from(["2101-13-01 00:00:00", "2101-02-30 10:00:00", "yesterday", "01/01/2101",
                     "2101-01-01 25:61:00", "2101-01-01T", "\u200b", '"', "2101-01-01 08:00:00,1"]),
    st.text(alphabet="0123456789-: x", min_size=1, max_size=20).filter(lambda t: not t[:1].isdigit()),
)
MALFORMATION = st.one_of(
    st.tuples(st.sampled_from(list(EVENT_ROWS)), st.just("VALUENUM"), BAD_NUMBER),
    st.tuples(st.sampled_from(list(EVENT_ROWS)), st.just("CHARTTIME"), BAD_TIME),
)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(MALFORMATION, min_size=1, max_size=6), data=st.data())
def test_random_malformations_are_counted_and_never_cost_a_good_row(tmp_path_factory, clean, bad,
                                                                    data) -> None:
    root = write_mimic3(tmp_path_factory.mktemp("prop") / "m3", gz=False)
    for table, field, value in bad:
        row = data.draw(st.sampled_from(EVENT_ROWS[table]))
        append_copy(root / f"{table}.csv", row, {field: value})
    # Each broken row is a well-quoted CSV row: nothing here may fail the read (the fixture's
    # tables are small enough for six bad rows to be most of one: the unreadable share has its
    # own test, so any share is allowed here).
    cohort = read_mimic(root, "mimic3", progress=False, max_bad_fraction=1.0)
    pd.testing.assert_frame_equal(cohort.events, clean.events)  # no well-formed row lost
    for name in ("stays", "notes", "labels"):
        pd.testing.assert_frame_equal(getattr(cohort, name), getattr(clean, name), obj=name)
    assert cohort.quality.total() - clean.quality.total() == len(bad)  # every bad row counted


def test_malformed_row_in_a_gzip_table(tmp_path, clean) -> None:
    root = write_mimic3(tmp_path / "m3", gz=True)
    path = root / "CHARTEVENTS.csv.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    path.write_bytes(gzip.compress((text + "1,1,100,1000,220045,never,,17,81,81,bpm,0,0,,\r\n").encode()))
    cohort = read_mimic(root, "mimic3", progress=False)
    pd.testing.assert_frame_equal(cohort.events, clean.events)
    row = [p for p in cohort.quality.to_dict()["problems"]
           if p["file"] == "CHARTEVENTS.csv.gz" and p["field"] == "CHARTTIME"]
    assert [r["count"] for r in row] == [1]
