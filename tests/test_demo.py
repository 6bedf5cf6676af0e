"""`realm demo` on a tiny configuration: every step runs, the report is written, a second
run reuses every cached step and gives the same numbers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from realm.cli import main

KG_SPEC = str(Path(__file__).resolve().parents[1] / "kg" / "examples" / "sepsis_icu.yaml")
MODELS = {"REALM", "GRU", "GBM", "LR", "oracle (true risk)"}


@pytest.mark.slow
def test_demo_tiny_then_warm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 120 stays: the smallest hospital whose train split holds both classes of both tasks
    argv = ["demo", "--n-stays", "120", "--max-epochs", "1", "--kg", KG_SPEC, "--embedder",
            "hashing", "--n-resamples", "50", "--no-progress", "--out", str(tmp_path / "demo")]
    started = time.perf_counter()
    assert main(argv) == 0
    cold = time.perf_counter() - started
    out = capsys.readouterr().out
    report = tmp_path / "demo" / "report.html"
    assert out.rstrip().splitlines()[-1] == f"Report: {report.resolve()}"
    assert "AUROC (95% CI)" in out and "oracle (true risk)" in out
    assert "exact dictionary match" in out  # the demo says how it linked entities

    record = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert set(record["models"]) == MODELS and record["reference"] == "REALM"
    predictions = pd.concat(pd.read_parquet(p) for p in (tmp_path / "demo" / "predictions").glob("*.parquet"))
    assert set(predictions["model"]) == MODELS
    html = report.read_text()
    assert html.count('src="data:image/svg+xml;base64,') >= 4
    assert "Why these risks?" in html  # REALM's explanations made it into the report

    started = time.perf_counter()
    assert main(argv) == 0
    warm = time.perf_counter() - started
    again = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert again["tasks"] == record["tasks"]  # cached models, same seed: same numbers
    assert warm < cold / 2, f"warm run {warm:.0f} s is not much faster than cold {cold:.0f} s"
