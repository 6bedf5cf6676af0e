"""``realm bench meds-scale`` at a small size: a valid, seeded MEDS dataset that the real
command reads, with every generated stay and the mapped rows of the window in the cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from realm.bench.meds_scale import NOTE_SHARE, MedsScaleConfig, generate
from realm.cli import main
from realm.config import CONFIGS, load_config

pytest.importorskip("meds")


def test_generation_is_seeded_sorted_and_sized(tmp_path: Path) -> None:
    cfg = MedsScaleConfig(events=6_000, subjects=12, subjects_per_shard=5, seed=3)
    counts = generate(tmp_path / "a", cfg)
    generate(tmp_path / "b", cfg)
    assert counts == {"events": 6_000, "subjects": 12, "shards": 3}
    for shard in sorted((tmp_path / "a" / "data").rglob("*.parquet")):
        a = pl.read_parquet(shard)
        assert a.equals(pl.read_parquet(tmp_path / "b" / shard.relative_to(tmp_path / "a")))
        assert a.equals(a.sort(["subject_id", "time"], nulls_last=False))
    data = pl.read_parquet(sorted((tmp_path / "a" / "data").rglob("*.parquet")))
    notes = data.filter(pl.col("code").str.starts_with("NOTE//")).height / data.height
    assert notes == pytest.approx(NOTE_SHARE, abs=0.01)


def test_cli_reads_the_generated_dataset(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["bench", "meds-scale", "--events", "20000", "--subjects", "20", "--out", str(out),
                 "--workdir", str(tmp_path)]) == 0
    report = json.loads(out.read_text())
    assert report["events"] == 20_000 and report["peak_rss_mb"] > 0
    assert report["cohort_counts"]["stays"] == 20
    assert report["events_per_s"] == pytest.approx(20_000 / report["wall_s"])
    assert not list(tmp_path.glob("realm-meds-scale-*"))  # not kept


def test_shipped_config_reads(tmp_path: Path) -> None:
    cfg = load_config(MedsScaleConfig, CONFIGS / "bench" / "meds_scale.yaml", out=tmp_path / "o")
    assert cfg.events == 50_000_000 and cfg.subjects == 4_000


def test_prepared_events_stop_at_the_window(tmp_path: Path) -> None:
    generate(tmp_path / "m", MedsScaleConfig(events=4_000, subjects=4, subjects_per_shard=4))
    assert main(["data", "prepare", "--source", "meds", "--root", str(tmp_path / "m"), "--out",
                 str(tmp_path / "c"), "--no-progress"]) == 0
    events = pd.read_parquet(tmp_path / "c" / "events.parquet")
    data = pl.read_parquet(tmp_path / "m" / "data" / "train" / "0.parquet")
    labs = data.filter(pl.col("code").str.starts_with("LAB//")).height
    assert 0.4 * labs < len(events) < 0.6 * labs  # stays of 96 h cut at 48 h
    assert events["hours"].max() <= 48
