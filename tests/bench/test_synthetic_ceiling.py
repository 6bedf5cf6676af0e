"""benchmarks/synthetic_ceiling.py end to end on a tiny synthetic hospital."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from realm.errors import DataError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "synthetic_ceiling.py"


def _script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthetic_ceiling", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "synthetic_ceiling", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_synthetic_ceiling_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ceiling = _script(monkeypatch)
    bench = tmp_path / "syn.json"  # the shape of a `realm bench synthetic` output
    bench.write_text(json.dumps({"auroc": {"mortality": {
        "val_auroc": {"oracle": 0.8, "realm": 0.7},
        "test": {"oracle": {"value": 0.8}, "realm": {"value": 0.6}}}}}))
    out = tmp_path / "ceiling.json"
    argv = ["--n-stays", "250", "--seed", "0", "--n-resamples", "20", "--out", str(out),
            "--bench-json", str(bench)]
    assert ceiling.main(argv) == 0
    assert "oracle_minus_a" in capsys.readouterr().out
    result = json.loads(out.read_text())

    checks = result["checks"]
    assert checks["n_stays"] == 250 and checks["stays_missing_from_population"] == 0
    assert checks["pop_split_matches"] and checks["sex_matches"]
    for key in ("pop_risk_vs_oracle_maxabs", "formula_vs_oracle_risk_maxabs"):
        assert set(checks[key]) == set(ceiling.TASKS)
        assert all(v <= ceiling.RISK_TOL for v in checks[key].values())

    assert set(result["r2"]) == set(ceiling.ESTIMATORS)
    for split in ("train", "val", "test"):
        assert result["r2"]["ridge"][split] > 0.5
        assert result["r2"]["gls"][split] > 0.5  # no fitting: the generator's own model
    assert 0 < result["r2"]["gls"]["expected"] <= 1
    assert result["best_estimator"] in ceiling.ESTIMATORS

    for task in ceiling.TASKS:
        for split in ("val", "test"):
            row = result["auroc"][task][split]
            values = [row["oracle"], row["conditions_age"], row["a_posterior"],
                      row["a_cohort_age"], row["c_labels_only"], *row["a"].values(),
                      *row["b"].values()]
            assert all(0 <= v <= 1 for v in values)
            assert set(row["a"]) == set(row["b"]) == set(ceiling.ESTIMATORS)
        assert result["c_labels_only"][task] in ceiling.C_GRID
        gaps = result["bootstrap_test"][task]
        assert set(gaps) == {"oracle_minus_a", "oracle_minus_a_posterior", "oracle_minus_b",
                             "oracle_minus_b_factor", "oracle_minus_c_labels_only"}
        for d in gaps.values():
            assert d["ci95"][0] <= d["ci95"][1] and 0 <= d["p_le_0"] <= 1
            assert -1 <= d["value"] <= 1
        test = result["auroc"][task]["test"]
        assert gaps["oracle_minus_a"]["value"] == pytest.approx(
            test["oracle"] - test["a"][result["best_estimator"]])
    assert result["auroc"]["mortality"]["test"]["bench"] == {"realm": 0.6}
    assert result["auroc"]["mortality"]["val"]["bench"] == {"realm": 0.7}
    assert "bench" not in result["auroc"]["readmission_30d"]["val"]

    # The same hospital read with the wrong seed: the re-simulated truth is not its own.
    with pytest.raises(DataError, match="does not reproduce the hospital"):
        ceiling.main(["--raw", result["raw"], "--seed", "1"])
