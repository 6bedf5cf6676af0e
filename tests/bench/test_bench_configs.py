"""Each shipped ``configs/bench`` file reads into its benchmark's config, and its values
reach the config (a key the dataclass does not know is refused, not ignored)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from realm.bench.bc8.benchmark import BC8BenchConfig
from realm.bench.harmonize import HarmonizeBenchConfig
from realm.bench.linking import LinkingBenchConfig
from realm.bench.ncbi.benchmark import LinkingNCBIConfig
from realm.bench.serialize import SerializeBenchConfig
from realm.config import CONFIGS, config_dict, load_config
from realm.errors import ConfigError

RUN_OPTIONS = {
    "bc8": (BC8BenchConfig, {"train": Path("t.tsv"), "out": Path("o.json")}),
    "linking": (LinkingBenchConfig, {"data": Path("t.tsv"), "out": Path("o.json")}),
    "linking_ncbi": (LinkingNCBIConfig, {"data": Path("t.txt"), "out": Path("o.json")}),
    "harmonize": (HarmonizeBenchConfig, {"labels": Path("l.csv"), "out": Path("o.json")}),
    "serialize": (SerializeBenchConfig, {"out": Path("o.json")}),
}


@pytest.mark.parametrize("name", sorted(RUN_OPTIONS))
def test_shipped_config_reaches_the_dataclass(name: str) -> None:
    cls, options = RUN_OPTIONS[name]
    path = CONFIGS / "bench" / f"{name}.yaml"
    cfg = load_config(cls, path, **options)
    written = yaml.safe_load(path.read_text())
    loaded = config_dict(cfg)
    for key, value in written.items():
        assert loaded[key] == value, key


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bc8.yaml"
    bad.write_text("systemz: [lexicon]\n")
    with pytest.raises(ConfigError, match="bc8.yaml"):
        load_config(BC8BenchConfig, bad, train=Path("t.tsv"), out=Path("o.json"))
