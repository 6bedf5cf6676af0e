"""`realm bench synthetic` end to end on a tiny synthetic hospital and a stand-in KG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realm.cli import main
from tests.bench.synthetic_fixtures import tiny_bench_config, use_tiny_kg


@pytest.mark.slow
def test_bench_synthetic_reports_oracle_and_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_tiny_kg(monkeypatch)
    out = tmp_path / "syn.json"
    argv = ["bench", "synthetic", "--out", str(out), "--config", str(tiny_bench_config(tmp_path))]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["settings"]["n_stays"] == 120 and result["settings"]["neural_seeds"] == 1
    for task in ("mortality", "readmission_30d"):
        r = result["auroc"][task]
        assert set(r["test"]) == {"oracle", "realm", "timeseries", "gbm", "lr"}
        for s in r["test"].values():
            assert 0 <= s["value"] <= 1 and s["ci95"][0] <= s["value"] <= s["ci95"][1]
        assert set(r["val_auroc"]) == set(r["test"])  # settings are chosen on val, not test
        gap = r["oracle_minus_realm"]
        assert gap["value"] == pytest.approx(r["test"]["oracle"]["value"] - r["test"]["realm"]["value"])
        assert r["n_test"] > r["positive"] >= 0
    assert result["extract_counts"]["linked"] > 0
    recall = result["extraction_recall"]
    assert recall["all"]["n"] > 0 and 0 < recall["all"]["recall"] <= 1
    assert sum(r["n"] for g, r in recall.items() if g != "all") == recall["all"]["n"]
    assert result["entities"]["nodes"] > 0
    # the written probabilities re-score to the reported AUROCs, val and test
    import pandas as pd
    from realm.eval.metrics import auroc

    table = pd.read_parquet(result["predictions"])
    assert set(table["model"]) == {"oracle", "realm", "timeseries", "gbm", "lr"}
    assert set(table["split"]) == {"val", "test"}
    for task in ("mortality", "readmission_30d"):
        for split, key in (("test", None), ("val", "val_auroc")):
            rows = table[(table["model"] == "realm") & (table["split"] == split) & (table["task"] == task)]
            rows = rows[rows["label"].notna()]
            value = auroc(rows["label"].astype(int).to_numpy(), rows["prob"].to_numpy())
            reported = (result["auroc"][task]["test"]["realm"]["value"] if key is None
                        else result["auroc"][task][key]["realm"])
            assert value == pytest.approx(reported)

    # A second run reuses the hospital and its mentions (both cached by content).
    import realm.data.synth
    import realm.pipeline.extract

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached benchmark step ran again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(realm.data.synth, "write_synthetic_hospital", must_not_run)
        mp.setattr(realm.pipeline.extract, "extract_mentions", must_not_run)
        again = ["--config", str(tiny_bench_config(tmp_path, neural_seeds=2)), "--models", "timeseries,lr"]
        assert main(argv[:4] + again) == 0
    second = json.loads(out.read_text())
    assert [t["seed"] for t in second["training"]["timeseries"]] == [0, 1]  # two seeds, averaged
    again = second["auroc"]["mortality"]
    assert set(again["test"]) == {"oracle", "timeseries", "lr"}
    assert again["test"]["lr"] == result["auroc"]["mortality"]["test"]["lr"]  # same seed, same fit


def test_bench_synthetic_rejects_unknown_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "x.json"
    assert main(["bench", "synthetic", "--out", str(out), "--models", "realm,bert"]) == 1
    assert "unknown ['bert']" in caplog.text and not out.exists()


def test_bench_synthetic_refuses_an_unknown_setting(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Tuned values are YAML: a mistyped key is refused, with the file named."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("neural_seed: 2\n")
    assert main(["bench", "synthetic", "--out", str(tmp_path / "x.json"), "--config", str(bad)]) == 1
    assert "bad.yaml" in caplog.text and "neural_seed" in caplog.text
