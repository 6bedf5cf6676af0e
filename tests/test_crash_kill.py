"""``kill -9`` in the middle of ``realm kg index``, ``realm extract`` (lexicon, and LLM with a
scripted model) and ``realm demo``: the rerun on the same cache finishes rc 0, its result
equals a clean run's, and no temporary file of the killed run is left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from realm.extract.llm import CACHE_STAGE
from realm.extract.mentions_table import META_FILE, MENTIONS_FILE, mentions_meta
from tests.crash_helpers import kill_mid_run, run_cli, stale_temps, tiny_cohort, tiny_kg

pytestmark = pytest.mark.slow

QUERIES = ("heart attack", "low oxygen", "septicemia", "kidney failure")


def _queries(spec: Path, cache: Path) -> list[str]:
    return [run_cli(["kg", "query", text, "--kg", str(spec), "--embedder", "hashing"], cache)
            for text in QUERIES]


def test_kg_index_killed_after_its_first_batch(tmp_path: Path) -> None:
    spec = tiny_kg(tmp_path / "kg")
    argv = ["kg", "index", "--kg", str(spec), "--embedder", "hashing", "--batch-size", "2", "--no-progress"]
    cache, clean = tmp_path / "cache", tmp_path / "clean"
    kill_mid_run(argv, cache, "realm.kg.index:ChromaIndex.add", tmp_path / "paused")
    run_cli(argv, cache)
    run_cli(argv, clean)
    assert _queries(spec, cache) == _queries(spec, clean)
    assert all(_queries(spec, cache))  # every query found candidates
    assert not stale_temps(cache)


def _extract_pair(folder: Path) -> tuple[pd.DataFrame, dict]:
    meta = mentions_meta(folder / MENTIONS_FILE)
    assert meta is not None
    return pd.read_parquet(folder / MENTIONS_FILE), meta


def test_lexicon_extract_killed_between_its_two_files(tmp_path: Path) -> None:
    spec = tiny_kg(tmp_path / "kg")
    cohort, clean_cohort = tiny_cohort(tmp_path / "cohort"), tiny_cohort(tmp_path / "clean_cohort")
    argv = ["extract", "--kg", str(spec), "--extractor", "lexicon", "--no-progress", "--cohort"]
    cache, clean = tmp_path / "cache", tmp_path / "clean"
    # the metadata is published, the table's temporary file written but not yet renamed
    kill_mid_run([*argv, str(cohort)], cache, "pyarrow.parquet:write_table", tmp_path / "paused",
                 pattern=f".{MENTIONS_FILE}.")
    assert (cohort / META_FILE).is_file() and stale_temps(cohort)
    run_cli([*argv, str(cohort)], cache)
    run_cli([*argv, str(clean_cohort)], clean)
    got, got_meta = _extract_pair(cohort)
    want, want_meta = _extract_pair(clean_cohort)
    pd.testing.assert_frame_equal(got, want)
    assert got_meta == want_meta and len(got) > 0
    assert not stale_temps(cohort, cache)


def test_llm_extract_killed_while_caching_an_answer(tmp_path: Path) -> None:
    spec = tiny_kg(tmp_path / "kg")
    cohort, clean_cohort = tiny_cohort(tmp_path / "cohort"), tiny_cohort(tmp_path / "clean_cohort")
    config = tmp_path / "llm.yaml"
    answer = {"entities": [{"text": "sepsis", "type": "condition"}, {"text": "heart attack", "type": "condition"}]}
    config.write_text(json.dumps({
        "model": {"class_path": "realm.llm.fake.ScriptedChatModel", "kwargs": {"default": json.dumps(answer)}},
        "extractor": {"max_concurrency": 1, "backoff": 0.0},
    }))
    argv = ["extract", "--kg", str(spec), "--extractor", "llm", "--llm-config", str(config), "--linker",
            "dictionary", "--no-timeseries", "--no-progress", "--cohort"]
    cache, clean = tmp_path / "cache", tmp_path / "clean"
    # the second answer's cache file is written under its temporary name: one answer is stored
    # (matched by the answer cache's folder: the KG's identity.json is written the same way)
    kill_mid_run([*argv, str(cohort)], cache, "pathlib:Path.write_text", tmp_path / "paused",
                 pattern=f"/{CACHE_STAGE}/", count=2)
    assert stale_temps(cache)
    run_cli([*argv, str(cohort)], cache)
    run_cli([*argv, str(clean_cohort)], clean)
    got, got_meta = _extract_pair(cohort)
    want, want_meta = _extract_pair(clean_cohort)
    pd.testing.assert_frame_equal(got, want)
    assert got_meta["counts"]["llm"]["cache_hits"] >= 1  # the rerun resumed from the stored answer
    for meta in (got_meta, want_meta):
        # what this run asked the model (and through which structured-output method)
        for resumable in ("cache_hits", "calls", "chunks", "methods", "method_share"):
            meta["counts"]["llm"].pop(resumable)
    assert got_meta == want_meta and got["node_id"].notna().sum() > 0
    assert not stale_temps(cohort, cache)


@pytest.fixture()
def demo_argv() -> list[str]:
    kg = str(Path(__file__).resolve().parents[1] / "kg" / "examples" / "sepsis_icu.yaml")
    return ["demo", "--n-stays", "120", "--max-epochs", "1", "--kg", kg, "--embedder", "hashing",
            "--n-resamples", "50", "--no-progress", "--out"]


def test_demo_killed_after_training_its_first_model(tmp_path: Path, demo_argv: list[str]) -> None:
    cache, clean = tmp_path / "cache", tmp_path / "clean"
    out, clean_out = tmp_path / "out", tmp_path / "clean_out"
    # the first neural model is trained inside its temporary cache folder, not yet published
    kill_mid_run([*demo_argv, str(out)], cache, "realm.pipeline.demo:_train_neural", tmp_path / "paused")
    assert stale_temps(cache)
    run_cli([*demo_argv, str(out)], cache)
    run_cli([*demo_argv, str(clean_out)], clean)
    got = json.loads((out / "metrics.json").read_text())
    want = json.loads((clean_out / "metrics.json").read_text())
    assert got["tasks"] == want["tasks"] and set(got["models"]) == set(want["models"])
    pd.testing.assert_frame_equal(pd.read_parquet(out / "predictions" / "REALM.parquet"),
                                  pd.read_parquet(clean_out / "predictions" / "REALM.parquet"))
    assert not stale_temps(cache, out)
    shutil.rmtree(clean)  # a demo cache is large; the test folder keeps only what failed
