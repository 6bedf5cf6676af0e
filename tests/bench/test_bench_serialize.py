"""``realm bench serialize``'s probe: C chosen on val, test AUROC with a CI, few-shot draws."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from realm.bench.serialize import SerializeBenchConfig, probe_task
from realm.cli.bench.serialize import register
from realm.config import load_config
from realm.errors import ConfigError


def _data(signal: float, n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(float)
    x = rng.normal(size=(n, 8))
    x[:, 0] += signal * y
    split = np.array(["train", "val", "test"], dtype=object)[rng.integers(0, 3, n)]
    y[rng.random(n) < 0.05] = np.nan  # undefined labels are left out
    return x, y, split, np.arange(n)


def test_probe_finds_signal_and_reports_ci_and_few_shot() -> None:
    x, y, split, groups = _data(signal=2.0)
    r = probe_task(x, y, split, groups, c_grid=[0.01, 1.0], shots=[4, 16], draws=5, n_resamples=200, seed=0)
    auc = r["test_auroc"]
    assert auc["value"] > 0.8 and auc["ci95"][0] < auc["value"] < auc["ci95"][1]
    assert r["c"] in (0.01, 1.0) and set(r["val_auroc_by_c"]) == {"0.01", "1.0"}
    assert set(r["few_shot"]) == {"4", "16"} and r["few_shot"]["16"]["draws"] == 5
    assert r["n_train"] + r["n_val"] + r["n_test"] == int((~np.isnan(y)).sum())


def test_probe_on_noise_is_near_chance() -> None:
    x, y, split, groups = _data(signal=0.0, n=1500, seed=1)
    r = probe_task(x, y, split, groups, c_grid=[0.1], shots=[], draws=2, n_resamples=200, seed=0)
    assert abs(r["test_auroc"]["value"] - 0.5) < 0.1


def test_a_split_with_one_class_is_a_clean_error() -> None:
    x, y, split, groups = _data(signal=1.0)
    y[split == "test"] = 0.0
    with pytest.raises(ConfigError, match="test split has one class"):
        probe_task(x, y, split, groups, c_grid=[1.0], shots=[], draws=2, n_resamples=50, seed=0)


def test_command_line_overrides_the_config(tmp_path: Path) -> None:
    """The shipped YAML fills what the command line leaves out; the command line wins."""
    parser = argparse.ArgumentParser()
    register(parser)
    args = parser.parse_args(["--out", str(tmp_path / "x.json"), "--n-stays", "50", "--no-note-encoder"])
    cfg = load_config(SerializeBenchConfig, args.config, out=args.out, n_stays=args.n_stays,
                      note_encoder=args.note_encoder)
    shipped = load_config(SerializeBenchConfig, "bench/serialize.yaml", out=tmp_path / "x.json")
    assert (cfg.n_stays, cfg.note_encoder) == (50, False)
    assert cfg.c_grid == shipped.c_grid and cfg.formats == shipped.formats
