"""`realm demo` on a tiny configuration: every step runs, the report is written, a second
run reuses every cached step and gives the same numbers, and the commands it prints to go
on run on what it left in its output folder."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest

from realm.cli import main

KG_SPEC = str(Path(__file__).resolve().parents[1] / "kg" / "examples" / "sepsis_icu.yaml")
MODELS = {"REALM", "GRU", "GBM", "LR", "oracle (true risk)"}


def _tiny(out: Path) -> list[str]:
    # 120 stays: the smallest hospital whose train split holds both classes of both tasks
    return ["demo", "--n-stays", "120", "--max-epochs", "1", "--kg", KG_SPEC, "--embedder",
            "hashing", "--n-resamples", "50", "--no-progress", "--out", str(out)]


@pytest.mark.slow
def test_demo_tiny_then_warm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _tiny(tmp_path / "demo")
    assert main(argv) == 0
    out = capsys.readouterr().out
    report = tmp_path / "demo" / "report.html"
    assert f"Report: {report.resolve()}" in out.splitlines()
    assert "AUROC (95% CI)" in out and "oracle (true risk)" in out
    assert "dense linker (dictionary, then Chroma retrieval" in out  # the demo says how it linked entities

    record = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert set(record["models"]) == MODELS and record["reference"] == "REALM"
    predictions = pd.concat(pd.read_parquet(p) for p in (tmp_path / "demo" / "predictions").glob("*.parquet"))
    assert set(predictions["model"]) == MODELS
    html = report.read_text()
    assert html.count('src="data:image/svg+xml;base64,') >= 4
    assert "Why these risks?" in html  # REALM's explanations made it into the report
    _check_explanations(tmp_path / "demo")

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


def _check_explanations(out: Path) -> None:
    """What a clinician checks: findings apart from negated mentions, risk-raising entities
    first for the highest-risk stays."""
    from realm.eval.explain import Explanations, list_of

    ex = Explanations.load(out / "explanations")
    mentions = pd.read_parquet(out / "cohort" / "mentions.parquet")
    assert len(ex.entities) and (ex.entities["list"] == ex.entities["assertion"].map(list_of)).all()
    for row in ex.entities[ex.entities["list"] == "present"].itertuples():
        said = mentions[(mentions["stay_id"] == row.stay_id)
                        & mentions["node_id"].isin(row.codes.split(", "))]
        assert (said["assertion"] == "present").any(), row  # never a negated mention's row
    top = ex.stays.loc[ex.stays["reason"] == "highest risk", ["stay_id", "task"]]
    for _, rows in ex.entities.merge(top).groupby(["stay_id", "task", "list"]):
        if (rows["effect"] > 0).any():
            assert rows.sort_values("rank")["effect"].iloc[0] == rows["effect"].max() > 0
    html = (out / "report.html").read_text()
    assert "Findings (present)" in html and " pts" in html


@pytest.mark.slow
def test_demo_outputs_chain_into_the_printed_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out_dir = Path("demo")  # relative, as a user types it: every written path must still resolve
    assert main(_tiny(out_dir)) == 0
    lines = capsys.readouterr().out.splitlines()
    commands = [shlex.split(line) for line in lines[lines.index("Next:") + 1:] if line.strip()]
    assert [c[:2] for c in commands] == [["realm", "fit"], ["realm", "evaluate"], ["realm", "serialize"]]

    record = json.loads((out_dir / "demo.json").read_text())
    files = record["files"]
    assert Path(files["cohort"]) == out_dir / "cohort" and (out_dir / "cohort" / "stays.parquet").is_file()
    assert Path(files["mentions"]).is_file() and Path(files["mentions"]).parent == out_dir / "cohort"
    assert "mentions_file: mentions.parquet" in Path(files["configs"]["REALM"]).read_text()
    assert all(Path(p).is_file() for p in files["checkpoints"].values())
    assert set(files["checkpoints"]) == set(files["configs"]) == {"REALM", "GRU"}
    assert record["kg"]["version"] and record["next"] == [shlex.join(c) for c in commands]
    # the drug mentions went through the method's retriever: the Chroma index of the drug types
    index = record["linking"]["index"]
    assert record["linking"]["linker"] == "dense" and record["linking"]["relink_types"] == ["drug", "drug_class"]
    assert index["store"] == "chroma" and index["kg_version"] == record["kg"]["version"]
    assert set(index["types"]) <= {"drug", "drug_class"} and index["entries"] > 0
    assert index["embedder"] == "hashing-3gram-256" and "build_seconds" in index
    config = Path(files["configs"]["REALM"])
    assert config.read_text().startswith(f"# REALM as `realm demo` trained it: realm fit --config {config}")

    # the printed `realm fit`, one epoch: it reads the cohort and the mentions the demo left
    assert main([*commands[0][1:], "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false"]) == 0
    (run,) = (out_dir / "runs" / "realm").glob("*/metrics.csv")
    assert "val/mortality_auroc" in pd.read_csv(run).columns
    assert list(run.parent.glob("checkpoints/best-*.ckpt"))

    # the printed `realm evaluate` on the demo's predictions
    assert main(commands[1][1:]) == 0
    evaluated = json.loads((out_dir / "evaluate" / "metrics.json").read_text())
    demo_metrics = json.loads((out_dir / "metrics.json").read_text())
    assert evaluated["tasks"] == demo_metrics["tasks"]  # same predictions, same seed: same numbers

    # the printed `realm serialize` prints a record of the cohort, conditions from its mentions
    capsys.readouterr()
    assert main(commands[2][1:]) == 0
    assert capsys.readouterr().out.startswith("# ICU stay")
