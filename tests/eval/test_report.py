"""`realm evaluate`: metrics.json against hand computations and the bootstrap, and the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realm.cli import main
from realm.errors import DataError
from realm.eval.bootstrap import bootstrap_ci
from realm.eval.calibration import calibration_intercept, calibration_slope
from realm.eval.calibration_ci import calibration_ci
from realm.eval.explain import ENTITY_COLUMNS, SERIES_COLUMNS, Explanations
from realm.eval.report import ENTITY_ROWS, fmt_ci, render_report
from realm.eval.run import run_evaluate
from realm.eval.evaluation import operating_point
from realm.eval.predictions import write_predictions

from tests.eval.eval_fixtures import tiny_cohort, tiny_predictions

N_RESAMPLES, SEED = 200, 7


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, dict]:
    root = tmp_path_factory.mktemp("evaluate")
    cohort = tiny_cohort(root / "cohort", n=80)
    ref = tiny_predictions(cohort, "REALM", noise=0.2, seed=1)
    base = tiny_predictions(cohort, "GBM", noise=0.35, seed=2)
    write_predictions(ref, root / "realm.parquet")
    write_predictions(base, root / "gbm.parquet")
    code = main(["evaluate", "--predictions", str(root / "realm.parquet"), "--baselines",
                 str(root / "gbm.parquet"), "--out", str(root / "out"), "--n-resamples",
                 str(N_RESAMPLES), "--seed", str(SEED), "--min-subgroup", "20"])
    assert code == 0
    record = json.loads((root / "out" / "metrics.json").read_text())
    return root / "out", pd.concat([ref, base], ignore_index=True), record


def _hand_auroc(y: np.ndarray, p: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def _hand_average_precision(y: np.ndarray, p: np.ndarray) -> float:
    order = np.argsort(-p)
    ys = y[order]
    hits = np.cumsum(ys)
    precision_at_hits = hits[ys == 1] / (np.flatnonzero(ys == 1) + 1)
    return float(precision_at_hits.mean())  # ties absent: probabilities are continuous


def test_point_estimates_match_hand_computation(evaluated) -> None:
    _, frame, record = evaluated
    rows = frame[(frame["model"] == "REALM") & (frame["task"] == "mortality")].dropna(subset=["y_true"])
    y, p = rows["y_true"].astype(int).to_numpy(), rows["y_prob"].to_numpy()
    m = record["tasks"]["mortality"]["models"]["REALM"]
    assert m["n"] == 77 and m["positives"] == int(y.sum())  # 3 undefined labels left out
    assert record["tasks"]["mortality"]["unlabelled_rows_dropped"] == 6  # 3 per model
    assert m["metrics"]["auroc"]["value"] == pytest.approx(_hand_auroc(y, p), abs=1e-12)
    assert m["metrics"]["auprc"]["value"] == pytest.approx(_hand_average_precision(y, p), abs=1e-12)
    assert m["metrics"]["brier"]["value"] == pytest.approx(np.mean((p - y) ** 2), abs=1e-12)
    assert m["metrics"]["calibration_slope"]["value"] == pytest.approx(calibration_slope(y, p))
    assert m["metrics"]["calibration_intercept"]["value"] == pytest.approx(calibration_intercept(y, p))
    op = m["operating_point"]
    pred = p >= op["threshold"]
    se, ppv = (pred & (y == 1)).sum() / y.sum(), (pred & (y == 1)).sum() / pred.sum()
    assert (op["sensitivity"], op["ppv"]) == pytest.approx((se, ppv))
    assert min(se, ppv) == pytest.approx(m["metrics"]["min_se_ppv"]["value"])


def test_intervals_equal_the_patient_bootstrap(evaluated) -> None:
    _, frame, record = evaluated
    rows = frame[(frame["model"] == "GBM") & (frame["task"] == "mortality")].dropna(subset=["y_true"])
    y, p, g = rows["y_true"].astype(int).to_numpy(), rows["y_prob"].to_numpy(), rows["subject_id"].to_numpy()
    direct = bootstrap_ci(y, p, g, ["auroc", "auprc", "min_se_ppv", "brier", "ece"],
                          n_resamples=N_RESAMPLES, seed=SEED)
    got = record["tasks"]["mortality"]["models"]["GBM"]["metrics"]
    for name, want in direct.items():
        assert got[name]["ci95"] == pytest.approx(want["ci95"], abs=1e-12), name
    # the batched calibration intervals equal the slow per-resample fits on the same draws
    slow = bootstrap_ci(y, p, g, {"calibration_slope": calibration_slope,
                                  "calibration_intercept": calibration_intercept},
                        n_resamples=N_RESAMPLES, seed=SEED)
    for name, want in slow.items():
        assert got[name]["ci95"] == pytest.approx(want["ci95"], abs=1e-8), name
    assert calibration_ci(y, p, g, n_resamples=N_RESAMPLES, seed=SEED)["calibration_slope"][
        "ci95"] == pytest.approx(slow["calibration_slope"]["ci95"], abs=1e-8)


def test_record_holds_estimators_comparisons_and_subgroups(evaluated) -> None:
    _, _, record = evaluated
    assert "average precision" in record["estimators"]["auprc"]
    assert record["reference"] == "REALM" and record["n_resamples"] == N_RESAMPLES
    comp = record["tasks"]["mortality"]["comparisons"]["GBM"]
    assert comp["n"] == 77 and {"auroc", "auprc", "min_se_ppv", "brier"} <= set(comp["metrics"])
    groups = {(r["attribute"], r["group"]): r for r in record["tasks"]["mortality"]["subgroups"]}
    assert groups[("overall", "all")]["n"] == 77
    assert sum(r["n"] for (a, _), r in groups.items() if a == "sex") == 77


def test_report_is_self_contained_with_figures_and_tables(evaluated) -> None:
    out, _, record = evaluated
    html = (out / "report.html").read_text()
    figures = re.findall(r'<img alt="([^"]+)" src="data:image/svg\+xml;base64,', html)
    assert len(figures) == 8  # forest, ROC, PR, reliability for each of two tasks
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets
    assert "<script" not in html
    for marker in ("Models compared", "Subgroups (REALM)", "REALM minus each other model"):
        assert marker in html
    auroc = record["tasks"]["mortality"]["models"]["REALM"]["metrics"]["auroc"]
    assert f"{auroc['value']:.3f} ({auroc['ci95'][0]:.3f} to {auroc['ci95'][1]:.3f})" in html


def test_same_model_name_twice_is_refused(tmp_path: Path) -> None:
    cohort = tiny_cohort(tmp_path / "c", n=30)
    for name in ("a", "b"):
        write_predictions(tiny_predictions(cohort, "same", 0.2, 0), tmp_path / f"{name}.parquet")
    with pytest.raises(DataError, match="also appears"):
        run_evaluate(tmp_path / "a.parquet", tmp_path / "out", baselines=[tmp_path / "b.parquet"])


def test_operating_point_takes_highest_threshold_on_ties() -> None:
    y = np.array([1, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    # thresholds 0.8 -> Se 2/3, PPV 1 -> 2/3; 0.6 -> Se 1, PPV 3/4 -> 3/4 (best)
    assert operating_point(y, p) == pytest.approx({"threshold": 0.6, "sensitivity": 1.0, "ppv": 0.75})


def test_each_curve_legend_shows_the_area_under_that_curve(evaluated, monkeypatch) -> None:
    import realm.eval.report as report

    calls: dict[str, list[dict[str, str]]] = {"roc": [], "pr": []}

    def capture(curve: str, real):
        def figure(curves, reference, labels, points):
            calls[curve].append(dict(labels))
            return real(curves, reference, labels, points)
        return figure

    monkeypatch.setattr(report, "roc_figure", capture("roc", report.roc_figure))
    monkeypatch.setattr(report, "pr_figure", capture("pr", report.pr_figure))
    _, frame, record = evaluated
    render_report(record, frame)
    for task, roc, pr in zip(record["tasks"], calls["roc"], calls["pr"]):
        for model, rec in record["tasks"][task]["models"].items():
            m = rec["metrics"]
            assert pr[model] == f"{model}  AUPRC (AP) {fmt_ci(m['auprc'], 2)}"
            assert roc[model] == f"{model}  AUROC {fmt_ci(m['auroc'], 2)}"
    assert len(calls["pr"]) == len(record["tasks"])


def _explanations(stay: int) -> Explanations:
    def entity(name: str, assertion: str, effect: float, **kw) -> dict:
        return {"stay_id": stay, "task": "mortality", "list": "present" if assertion == "present"
                else "negated", "rank": 0, "concept": name, "name": name, "codes": kw.get("codes", name),
                "type": "phenotype", "assertion": assertion, "mentions": 1, "link_score": 1.0,
                "effect": effect, "kg_path": f"{name} (3 training stays)", "snippet": f"«{name}»"}

    rows = [entity("Fever", "present", 0.031, codes="HP:0001945, ICD10CM:R50.9, ICD9CM:780.60"),
            entity("Hypotension", "present", -0.02), entity("Septic shock", "negated", 0.01),
            *(entity(f"Minor {i}", "present", 0.001 * (i + 1)) for i in range(ENTITY_ROWS + 1))]
    stays = pd.DataFrame({"stay_id": [stay], "task": "mortality", "model": "REALM", "risk": 0.9,
                          "y_true": 1.0, "reason": "highest risk", "gate_timeseries": 0.5,
                          "gate_entities": 0.3, "gate_notes": 0.2})
    series = pd.DataFrame([{"stay_id": stay, "task": "mortality", "rank": 1, "variable": "lactate",
                            "hour_start": 6.0, "hour_end": 12.0, "effect": 0.045, "n_measured": 2,
                            "value": 4.2}], columns=SERIES_COLUMNS)
    return Explanations(stays, pd.DataFrame(rows, columns=ENTITY_COLUMNS), series)


def test_why_these_risks_lists_findings_apart_with_effects_in_points(evaluated) -> None:
    _, frame, record = evaluated
    stay = int(frame["stay_id"].iloc[0])
    html = render_report(record, frame, explanations=_explanations(stay))
    section = html[html.index("Why these risks?"):]
    present = section[section.index('<table class="entities present">'):]
    present = present[:present.index("</table>")]
    negated = section[section.index('<table class="entities negated">'):]
    negated = negated[:negated.index("</table>")]
    assert "Fever" in present and "Hypotension" in present and "Septic shock" not in present
    assert "Septic shock" in negated and "Fever" not in negated
    assert "HP:0001945, ICD10CM:R50.9, ICD9CM:780.60" in present  # one row, every code
    assert "+3.1 pts" in present and "-2.0 pts" in present and "Fever (3 training stays)" in present
    # the rows that raised the risk most come first, at most ENTITY_ROWS of them
    assert present.index("Fever") < present.index("Minor") < present.index("Hypotension")
    assert "Minor 0" not in present and f"Minor {ENTITY_ROWS}" in present
    assert "lactate" in section and "6&ndash;12" in section and "+4.5 pts" in section


def test_evaluate_runs_without_the_meds_extra(tmp_path: Path) -> None:
    """The README's first command installs no extra; `realm evaluate` (and the demo's report)
    must read realm's own predictions files without polars or meds-evaluation."""
    import subprocess
    import sys

    cohort = tiny_cohort(tmp_path / "c", n=30)
    write_predictions(tiny_predictions(cohort, "REALM", 0.2, 0), tmp_path / "a.parquet")
    write_predictions(tiny_predictions(cohort, "GBM", 0.3, 1), tmp_path / "b.parquet")
    code = ("import sys\n"
            "class NotInstalled:  # the optional extra's packages cannot be imported\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('polars', 'meds', 'meds_evaluation'):\n"
            "            raise ModuleNotFoundError(name, name=name)\n"
            "sys.meta_path.insert(0, NotInstalled())\n"
            "from realm.cli import main\n"
            f"sys.exit(main(['evaluate', '--predictions', {str(tmp_path / 'a.parquet')!r}, '--baselines', "
            f"{str(tmp_path / 'b.parquet')!r}, '--out', {str(tmp_path / 'out')!r}, '--n-resamples', '20']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "metrics.json").is_file()
