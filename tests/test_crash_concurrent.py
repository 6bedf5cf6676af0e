"""Two processes writing the same result on one cache at once (``realm data prepare --force``,
``realm extract``, ``realm kg index``) both end rc 0 with one result equal to a clean run's,
and a reader polling the cohort folder during a ``--force`` replace always finds it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from realm.data.synth import write_synthetic_hospital
from realm.extract.mentions_table import MENTIONS_FILE, mentions_meta
from tests.crash_helpers import run_cli, stale_temps, start_cli, tiny_cohort, tiny_kg

pytestmark = pytest.mark.slow

TABLES = ("stays", "events", "notes", "labels", "oracle")


def _both(argv: list[str], cache: Path) -> None:
    procs = [start_cli(argv, cache) for _ in range(2)]
    outcomes = [(p.wait(900), p.stderr.read()[-3000:] if p.stderr else "") for p in procs]
    for p in procs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    assert [rc for rc, _ in outcomes] == [0, 0], outcomes


def _cohort_folder(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("cohort: "))
    return Path(line.removeprefix("cohort: ").rsplit("  (", 1)[0])


def test_two_forced_prepares_and_a_reader(tmp_path: Path) -> None:
    raw = write_synthetic_hospital(tmp_path / "raw", n_stays=60, seed=0)
    argv = ["data", "prepare", "--source", "synthetic", "--root", str(raw), "--no-progress"]
    cache, clean = tmp_path / "cache", tmp_path / "clean"
    folder = _cohort_folder(run_cli(argv, cache))
    missing: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            if not (folder / "meta.json").is_file():
                missing.append("meta.json")
            if not (folder / "stays.parquet").is_file():
                missing.append("stays.parquet")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        _both([*argv, "--force"], cache)
    finally:
        stop.set()
        reader.join()
    assert not missing, f"the cohort folder was missing {len(missing)} times during the replace"
    want = _cohort_folder(run_cli(argv, clean))
    for table in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(folder / f"{table}.parquet"),
                                      pd.read_parquet(want / f"{table}.parquet"))
    assert json.loads((folder / "meta.json").read_text()) == json.loads((want / "meta.json").read_text())
    assert not stale_temps(cache)


def test_two_extracts_of_one_cohort(tmp_path: Path) -> None:
    spec = tiny_kg(tmp_path / "kg")
    cohort, clean_cohort = tiny_cohort(tmp_path / "cohort"), tiny_cohort(tmp_path / "clean_cohort")
    argv = ["extract", "--kg", str(spec), "--extractor", "lexicon", "--no-progress", "--cohort"]
    cache, clean = tmp_path / "cache", tmp_path / "clean"
    _both([*argv, str(cohort)], cache)
    run_cli([*argv, str(clean_cohort)], clean)
    pd.testing.assert_frame_equal(pd.read_parquet(cohort / MENTIONS_FILE), pd.read_parquet(clean_cohort / MENTIONS_FILE))
    assert mentions_meta(cohort / MENTIONS_FILE) == mentions_meta(clean_cohort / MENTIONS_FILE)
    assert not stale_temps(cohort, cache)


def test_two_kg_index_builds_of_one_index(tmp_path: Path) -> None:
    spec = tiny_kg(tmp_path / "kg")
    argv = ["kg", "index", "--kg", str(spec), "--embedder", "hashing", "--batch-size", "2", "--no-progress"]
    cache, clean = tmp_path / "cache", tmp_path / "clean"
    _both(argv, cache)
    run_cli(argv, clean)
    for text in ("heart attack", "low oxygen", "septicemia"):
        query = ["kg", "query", text, "--kg", str(spec), "--embedder", "hashing"]
        got = run_cli(query, cache)
        assert got and got == run_cli(query, clean)
    assert not stale_temps(cache)
