"""`realm demo` on a tiny configuration: every step runs, the report is written, a second
run reuses every cached step and gives the same numbers."""

from __future__ import annotations

import json
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
    assert main(argv) == 0
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

    # Warm: every expensive step must come from the cache, so each one fails if called (a
    # behavioural check of the caching; the warm-run time itself is a benchmark figure).
    import realm.data.synth
    import realm.pipeline.demo
    import realm.pipeline.extract

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached demo step ran again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(realm.data.synth, "write_synthetic_hospital", must_not_run)
        mp.setattr(realm.pipeline.extract, "extract_mentions", must_not_run)
        mp.setattr(realm.pipeline.demo, "_train_neural", must_not_run)
        assert main(argv) == 0
    again = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert again["tasks"] == record["tasks"]  # cached models, same seed: same numbers
