"""Scoring, the labelled MIMIC-III demo file, and both commands through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from drug_kg import write_tiny_kg_spec

from realm.cli import main
from realm.harmonize import BINARY_TASKS, ROUTE_CLASSES, UNSURE, get_task, gold_for, read_labels, score
from realm.harmonize.evaluate import LABEL_COLUMNS

LABELS = Path(__file__).resolve().parents[2] / "kg" / "harmonize" / "labels_mimic3_demo.csv"
SHOTS = Path(__file__).resolve().parents[2] / "realm" / "resources" / "harmonize_shots.csv"


def test_binary_metrics_by_hand() -> None:
    gold = ["yes", "yes", "yes", "no", "no"]
    pred = ["yes", "no", UNSURE, "no", "yes"]
    m = score(gold, pred, "antibiotic")
    assert m["accuracy"] == pytest.approx(2 / 5) and m["coverage"] == pytest.approx(4 / 5)
    assert m["accuracy_answered"] == pytest.approx(2 / 4)
    assert m["precision"] == pytest.approx(1 / 2) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert m["balanced_accuracy"] == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_multiclass_and_generic_metrics_by_hand() -> None:
    m = score(["oral", "oral", "topical", "rectal"], ["oral", "topical", "topical", UNSURE], "route")
    # recall: oral 1/2, topical 1, rectal 0; precision: oral 1, topical 1/2, rectal 0
    assert m["balanced_accuracy"] == pytest.approx(0.5) and m["macro_precision"] == pytest.approx(0.5)
    g = score(["acetaminophen / oxycodone", "heparin"], ["Oxycodone / Acetaminophen", "heparin sodium"], "generic_name")
    assert g["accuracy"] == pytest.approx(0.5)


def test_label_file_is_well_formed() -> None:
    rows = read_labels(LABELS)
    drug = [r for r in rows if r["field"] == "DRUG"]
    route = [r for r in rows if r["field"] == "ROUTE"]
    assert len(drug) > 500 and len(route) > 30
    assert {r["route_class"] for r in route} <= set(ROUTE_CLASSES)
    for name in BINARY_TASKS:
        assert {r[name] for r in drug} <= {"yes", "no", ""}
        assert {r[name] for r in drug} >= {"yes", "no"}
    assert all(not r["route_class"] for r in drug)
    assert len(gold_for(rows, "generic_name")[0]) > 500


def test_built_in_shots_never_repeat_an_evaluation_string() -> None:
    labelled = {" ".join(r["string"].lower().split()) for r in read_labels(LABELS)}
    with SHOTS.open(encoding="utf-8") as fh:
        shots = {" ".join(row["text"].lower().split()) for row in csv.DictReader(fh)}
    assert not shots & labelled
    for name in LABEL_COLUMNS:
        assert 0 < len(get_task(name).shots) <= 10


@pytest.mark.shared_data
def test_label_file_covers_every_distinct_demo_string(prescriptions_csv: Path) -> None:
    rx = pd.read_csv(prescriptions_csv, usecols=["DRUG", "ROUTE"], dtype=str)
    rows = read_labels(LABELS)
    for field in ("DRUG", "ROUTE"):
        labelled = {r["string"] for r in rows if r["field"] == field}
        assert labelled == set(rx[field].dropna())


def test_harmonize_command_writes_the_task_columns(tmp_path: Path) -> None:
    spec = write_tiny_kg_spec(tmp_path / "kg")
    source = tmp_path / "rx.csv"
    pd.DataFrame({"DRUG": ["Ceftriaxone", "Vancomycin", "Oxycodone"], "ROUTE": ["IV", "IV", "PO"]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    code = main(["harmonize", "--input", str(source), "--column", "DRUG", "--task", "antibiotic",
                 "--out", str(out), "--kg", str(spec)])
    table = pd.read_csv(out)
    assert code == 0 and list(table["antibiotic"]) == ["yes", UNSURE, "no"]
    assert list(table["antibiotic_backend"]) == ["kg", "kg", "kg"]


def test_harmonize_never_replaces_an_input_column_or_a_file(tmp_path: Path) -> None:
    spec = write_tiny_kg_spec(tmp_path / "kg")
    source = tmp_path / "rx.csv"
    pd.DataFrame({"drug": ["Ceftriaxone"], "route": ["IV"]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    argv = ["harmonize", "--input", str(source), "--column", "route", "--task", "route", "--out", str(out),
            "--kg", str(spec)]
    assert main(argv) == 1 and not out.exists()  # the answer column would replace the input's
    assert main(argv + ["--out-column", "route_class"]) == 0
    table = pd.read_csv(out)
    assert list(table["route"]) == ["IV"] and "route_class" in table.columns
    assert main(argv + ["--out-column", "route_class"]) == 1  # out exists
    assert main(argv + ["--out-column", "route_class", "--overwrite"]) == 0
    in_place = ["harmonize", "--input", str(source), "--column", "drug", "--task", "antibiotic",
                "--out", str(source), "--kg", str(spec), "--overwrite"]
    assert main(in_place) == 1 and pd.read_csv(source).columns.tolist() == ["drug", "route"]


def test_harmonize_command_asks_the_llm_of_an_llm_config_where_the_kg_is_unsure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))
    spec = write_tiny_kg_spec(tmp_path / "kg")
    source = tmp_path / "rx.csv"
    pd.DataFrame({"DRUG": ["Ceftriaxone", "Vancomycin", "Oxycodone"]}).to_csv(source, index=False)
    config = tmp_path / "llm.yaml"  # the file realm extract reads: its extractor section is not harmonize's
    config.write_text("model:\n  class_path: realm.llm.fake.ScriptedChatModel\n"
                      "  kwargs: {by_substring: {Vancomycin: 'yes'}, temperature: 0.7}\n"
                      "extractor:\n  max_concurrency: 2\n")
    out = tmp_path / "out.csv"
    assert main(["harmonize", "--input", str(source), "--column", "DRUG", "--task", "antibiotic", "--out", str(out),
                 "--kg", str(spec), "--backend", "llm+kg", "--llm-config", str(config), "--samples", "3"]) == 0
    table = pd.read_csv(out)
    assert list(table["antibiotic"]) == ["yes", "yes", "no"]
    assert list(table["antibiotic_backend"]) == ["kg", "llm", "kg"]
    assert list(table["antibiotic_agreement"]) == [1.0, 1.0, 1.0]


def test_harmonize_command_errors_are_reported_not_raised(tmp_path: Path) -> None:
    source = tmp_path / "rx.csv"
    source.write_text("DRUG\nx\n")
    assert main(["harmonize", "--input", str(source), "--column", "NOPE", "--task", "route",
                 "--out", str(tmp_path / "o.csv")]) == 1
    assert main(["harmonize", "--input", str(source), "--column", "DRUG", "--task", "route",
                 "--out", str(tmp_path / "o.csv"), "--backend", "llm"]) == 1  # no --llm-config


def test_bench_harmonize_scores_every_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_tiny_kg_spec(tmp_path / "kg")
    out = tmp_path / "bench.json"
    assert main(["bench", "harmonize", "--labels", str(LABELS), "--out", str(out), "--kg", str(spec)]) == 0
    payload = json.loads(out.read_text())
    assert set(payload["tasks"]) == set(LABEL_COLUMNS)
    route = payload["tasks"]["route"]
    assert route["n"] == len(gold_for(read_labels(LABELS), "route")[0]) and route["coverage"] == 1.0
    # Eight drugs in the tiny KG: most DRUG strings must come back unsure, and are scored as wrong.
    generic = payload["tasks"]["generic_name"]
    assert generic["coverage"] < 0.3 and generic["accuracy"] <= generic["coverage"]
    assert payload["kg_version"] and "generic_name" in capsys.readouterr().out


def test_ctrl_c_during_llm_harmonization_exits_130_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "rx.csv"
    pd.DataFrame({"DRUG": ["Ceftriaxone", "Vancomycin", "Oxycodone"]}).to_csv(source, index=False)
    config = tmp_path / "llm.yaml"
    config.write_text("model:\n  class_path: realm.llm.fake.ScriptedChatModel\n"
                      "  kwargs: {responses: ['yes', 'yes', {raise: interrupt}], temperature: 0.7}\n")
    argv = ["harmonize", "--input", str(source), "--column", "DRUG", "--task", "antibiotic", "--out",
            str(tmp_path / "out.csv"), "--backend", "llm", "--llm-config", str(config), "--samples", "2"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted; 1 strings cached, re-run to resume\n" in err and "Traceback" not in err
