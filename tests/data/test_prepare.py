"""`realm data prepare` through the real CLI on a tiny PhysioNet 2012 tree, and the
synthetic hospital's oracle and designed split."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from mimic_fixtures import write_mimic3

from realm.cli import main
from realm.data.cohort import Cohort
from realm.data.prepare import prepare_cohort
from realm.errors import ConfigError, DataError


def tiny_physionet(root: Path, n: int = 12) -> Path:
    """Sets a and b in the unpacked layout: ``n`` stays each, every third one died."""
    for letter, base in (("a", 100), ("b", 200)):
        folder = root / f"set-{letter}"
        folder.mkdir(parents=True)
        outcomes = ["RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death"]
        for rid in range(base, base + n):
            (folder / f"{rid}.txt").write_text(
                "Time,Parameter,Value\n"
                f"00:00,RecordID,{rid}\n00:00,Age,60\n00:00,Gender,1\n00:00,Height,-1\n"
                "00:00,ICUType,3\n00:00,Weight,70\n"
                f"00:30,HR,{60 + rid % 40}\n02:00,Lactate,1.5\n50:00,HR,90\n")
            outcomes.append(f"{rid},10,2,4,-1,{int(rid % 3 == 0)}")
        (root / f"Outcomes-{letter}.txt").write_text("\n".join(outcomes) + "\n")
    return root


def run_prepare(root: Path, *extra: str) -> int:
    return main(["data", "prepare", "--source", "physionet2012", "--root", str(root),
                 "--no-progress", *extra])


def printed_folder(out: str) -> Path:
    line = next(line for line in out.splitlines() if line.startswith("cohort: "))
    return Path(line.removeprefix("cohort: ").rsplit("  (", 1)[0])


def test_cli_prepare_writes_a_valid_cohort(tmp_path: Path, capsys) -> None:
    root = tiny_physionet(tmp_path / "pn")
    out = tmp_path / "cohort"
    assert run_prepare(root, "--out", str(out), "--seed", "3") == 0
    printed = capsys.readouterr().out
    assert "stays 24  subjects 24" in printed and "events 48" in printed
    assert "HR  after the 48 h window" in printed
    assert printed_folder(printed) == out
    for name in ("stays", "events", "notes", "labels"):
        assert (out / f"{name}.parquet").is_file()
    assert (out / "quality.json").is_file()
    cohort = Cohort.load(out)
    cohort.validate()
    assert cohort.stays["split"].value_counts().to_dict() == {"train": 17, "val": 3, "test": 4}
    assert cohort.meta["prepare"]["seed"] == 3 and cohort.meta["input_digest"]
    assert int(cohort.labels["mortality"].sum()) == 8


def test_cache_is_reused_until_inputs_or_config_change(tmp_path: Path, capsys, caplog) -> None:
    caplog.set_level(logging.INFO, logger="realm.data.prepare")
    root = tiny_physionet(tmp_path / "pn")
    assert run_prepare(root) == 0
    first = printed_folder(capsys.readouterr().out)
    assert first.parent.name == "cohort" and (first / "meta.json").is_file()
    stamp = (first / "events.parquet").stat().st_mtime_ns

    caplog.clear()
    assert run_prepare(root) == 0
    assert printed_folder(capsys.readouterr().out) == first
    assert "reusing" in caplog.text
    assert (first / "events.parquet").stat().st_mtime_ns == stamp

    caplog.clear()
    assert run_prepare(root, "--force") == 0
    assert printed_folder(capsys.readouterr().out) == first
    assert "reusing" not in caplog.text
    assert (first / "events.parquet").stat().st_mtime_ns != stamp

    assert run_prepare(root, "--seed", "1") == 0  # another config: another folder
    assert printed_folder(capsys.readouterr().out) != first
    (root / "set-a" / "100.txt").write_text(
        (root / "set-a" / "100.txt").read_text().replace("02:00,Lactate,1.5", "02:00,Lactate,9"))
    assert run_prepare(root) == 0  # changed input content: another folder
    assert printed_folder(capsys.readouterr().out) != first


def test_refuses_to_replace_a_folder_that_is_not_a_cohort(tmp_path: Path) -> None:
    root = tiny_physionet(tmp_path / "pn")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert run_prepare(root, "--out", str(out)) == 1
    assert (out / "thesis.tex").read_text() == "precious"


def test_bad_sources_and_options(tmp_path: Path) -> None:
    root = tiny_physionet(tmp_path / "pn")
    with pytest.raises(ConfigError, match="unknown source 'eicu'"):
        prepare_cohort("eicu", root)
    with pytest.raises(SystemExit):
        main(["data", "prepare", "--source", "eicu", "--root", str(root)])
    with pytest.raises(ConfigError, match="--labs"):
        prepare_cohort("physionet2012", root, labs=["lactate"], progress=False)
    with pytest.raises(ConfigError, match="sum to 1"):
        prepare_cohort("physionet2012", root, fractions=(0.9, 0.2, 0.1), progress=False)
    # PhysioNet 2012 has no admission times, so a temporal split is a clear error
    assert run_prepare(root, "--temporal", "--out", str(tmp_path / "t")) == 1
    assert run_prepare(root, "--sets", "a,z", "--out", str(tmp_path / "z")) == 1
    assert run_prepare(tmp_path / "absent", "--out", str(tmp_path / "n")) == 1


# -- the synthetic hospital ---------------------------------------------------------------
def _fake_mimic3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand in for the MIMIC-III reader: the oracle logic is under test, not the reader."""
    stays = pd.DataFrame({"stay_id": [11, 12, 13, 14], "subject_id": [1, 1, 2, 3],
                          "source": "synthetic", "age": 70.0, "height": 170.0, "weight": 80.0,
                          "los_hours": 96.0})
    labels = pd.DataFrame({"stay_id": [11, 12, 13, 14],
                           "mortality": pd.array([0, 1, 0, 1], dtype="Int8")})
    events = pd.DataFrame({"stay_id": [11], "hours": [1.0], "variable": ["heart_rate"],
                           "value": [80.0]})
    notes = pd.DataFrame({"note_id": ["n1"], "stay_id": [13], "hours": [2.0],
                          "category": ["Nursing"], "text": ["stable"]})

    def read_mimic(root: Path, layout: str, *, window_hours: float, labs, progress: bool,
                   strict: bool) -> Cohort:
        assert layout == "mimic3"  # the synthetic hospital is written in MIMIC-III's format
        return Cohort(stays=stays, events=events, notes=notes, labels=labels,
                      meta={"source": "mimic3", "window_hours": window_hours})

    module = types.ModuleType("realm.data.readers.mimic")
    module.read_mimic = read_mimic
    monkeypatch.setitem(sys.modules, "realm.data.readers.mimic", module)


def _true_risk(root: Path, splits: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"ICUSTAY_ID": [14, 13, 12, 11], "SUBJECT_ID": [3, 2, 1, 1],
                  "RISK_MORTALITY": [0.9, 0.1, 0.6, 0.2],
                  "RISK_READMISSION": [0.3, 0.2, 0.1, 0.05],
                  "SPLIT": splits}).to_csv(root / "TRUE_RISK.csv", index=False)


def test_synthetic_attaches_oracle_and_keeps_designed_split(tmp_path: Path,
                                                            monkeypatch) -> None:
    _fake_mimic3(monkeypatch)
    root = tmp_path / "hospital"
    _true_risk(root, ["test", "val", "train", "train"])
    cohort, folder = prepare_cohort("synthetic", root, tmp_path / "out", progress=False)
    assert list(cohort.stays["split"]) == ["train", "train", "val", "test"]
    assert cohort.meta["source"] == "synthetic"
    loaded = Cohort.load(folder)
    assert list(loaded.oracle.columns) == ["stay_id", "risk_mortality", "risk_readmission_30d"]
    assert loaded.oracle.set_index("stay_id")["risk_mortality"].to_dict() == {
        11: 0.2, 12: 0.6, 13: 0.1, 14: 0.9}


@pytest.mark.parametrize(("splits", "message"), [
    (["test", "val", "train", "test"], r"more than one split \(e.g. subject 1\)"),
    (["test", "dev", "train", "train"], "row 3.*unknown split 'dev'"),
])
def test_synthetic_split_errors(tmp_path: Path, monkeypatch, splits, message) -> None:
    _fake_mimic3(monkeypatch)
    root = tmp_path / "hospital"
    _true_risk(root, splits)
    with pytest.raises(DataError, match=message):
        prepare_cohort("synthetic", root, tmp_path / "out", progress=False)


def test_synth_command_passes_its_arguments(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = []

    def write_synthetic_hospital(out: Path, n_stays: int, seed: int) -> Path:
        calls.append((out, n_stays, seed))
        return out

    module = types.ModuleType("realm.data.synth")
    module.write_synthetic_hospital = write_synthetic_hospital
    monkeypatch.setitem(sys.modules, "realm.data.synth", module)
    assert main(["data", "synth", "--out", str(tmp_path), "--n-stays", "7", "--seed", "5"]) == 0
    assert calls == [(tmp_path, 7, 5)]
    assert "7 stays" in capsys.readouterr().out


def test_strict_reaches_the_reader(tmp_path: Path) -> None:
    """A malformed row is counted by default and refused with ``strict``."""
    root = write_mimic3(tmp_path / "m3", gz=False)
    with (root / "LABEVENTS.csv").open("a", newline="") as fh:
        fh.write("99,1,100,50971,not a time,4.1,4.1,,\r\n")
    cohort, _ = prepare_cohort("mimic3", root, tmp_path / "lenient", progress=False)
    assert cohort.quality.total("value cannot be read as its column's type, row skipped") == 1
    with pytest.raises(DataError, match=r"LABEVENTS\.csv"):
        prepare_cohort("mimic3", root, tmp_path / "strict", progress=False, strict=True)
