"""A MIMIC table with more than ``max_bad_fraction`` of its rows malformed is unreadable: a
DataError naming the file, as in the PhysioNet reader, never a silently thinned table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from mimic_fixtures import write_mimic3

from realm.data.readers.mimic import read_mimic
from realm.errors import ConfigError, DataError


def _break_rows(path: Path, column: str, value: str, copies: int) -> int:
    """Append ``copies`` copies of the first data row with ``column`` set to ``value``;
    returns the rows the file held before."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, first = rows[0], list(rows[1])
    first[header.index(column)] = value
    with path.open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([first] * copies)
    return len(rows) - 1


@pytest.mark.parametrize(("table", "column", "value"), [
    ("PATIENTS", "DOB", "yesterday"),          # rejected by the CSV scan
    ("ADMISSIONS", "HADM_ID", "1O0"),
    ("CHARTEVENTS", "VALUENUM", "abc"),        # read, then refused as a value
])
def test_a_mostly_malformed_table_is_unreadable(tmp_path: Path, table: str, column: str, value: str) -> None:
    root = write_mimic3(tmp_path / "m3", gz=False)
    good = _break_rows(root / f"{table}.csv", column, value, copies=1)
    read_mimic(root, "mimic3", progress=False)  # one bad row: counted, not fatal
    _break_rows(root / f"{table}.csv", column, value, copies=good + 40)
    with pytest.raises(DataError, match=rf"{table}\.csv.*unreadable: \d+ of \d+ rows malformed \(more than 50%"):
        read_mimic(root, "mimic3", progress=False)
    # the share is the caller's to set: all bad rows allowed, they are counted instead
    cohort = read_mimic(root, "mimic3", progress=False, max_bad_fraction=1.0)
    assert any(p["file"] == f"{table}.csv" and p["count"] >= good + 41
               for p in cohort.quality.to_dict()["problems"])


def test_the_share_must_be_a_fraction(tmp_path: Path) -> None:
    root = write_mimic3(tmp_path / "m3", gz=False)
    with pytest.raises(ConfigError, match="max_bad_fraction"):
        read_mimic(root, "mimic3", progress=False, max_bad_fraction=1.5)


def test_the_share_is_a_command_line_option(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`realm data prepare --max-bad-fraction`: refused at the default share, read with it
    raised; a source other than MIMIC refuses the option."""
    from realm.cli import main

    root = write_mimic3(tmp_path / "m3", gz=False)
    good = _break_rows(root / "ADMISSIONS.csv", "HADM_ID", "1O0", copies=1)
    _break_rows(root / "ADMISSIONS.csv", "HADM_ID", "1O0", copies=good + 40)
    common = ["data", "prepare", "--root", str(root), "--no-progress"]
    assert main([*common, "--source", "mimic3", "--out", str(tmp_path / "a")]) != 0
    assert "unreadable" in caplog.text
    assert main([*common, "--source", "mimic3", "--out", str(tmp_path / "b"), "--max-bad-fraction", "1"]) == 0
    assert (tmp_path / "b" / "meta.json").is_file()
    assert main([*common, "--source", "physionet2012", "--max-bad-fraction", "1"]) != 0
    assert "applies to MIMIC sources" in caplog.text
