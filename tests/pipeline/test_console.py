"""Training runs' console: known third-party noise filtered, realm's own warnings kept,
run folders named by their start time."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from realm.pipeline.console import quiet_lightning, run_version


def test_known_noise_is_filtered_and_other_warnings_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    lightning = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        with quiet_lightning():
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
            warnings.warn("The dirpath has changed from 'a' to 'b'")
            warnings.warn("realm: 3 stays have no label")
            lightning.info("💡 Tip: For seamless cloud logging ...")
            lightning.info("GPU available: False")
        lightning.info("💡 Tip: shown again once the block is left")
    assert [str(w.message) for w in seen] == ["realm: 3 stays have no label"]
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False",
                                                        "💡 Tip: shown again once the block is left"]


def test_run_versions_are_start_times_made_unique(tmp_path: Path) -> None:
    first = run_version(tmp_path, "realm", now=0.0)
    (tmp_path / "realm" / first).mkdir(parents=True)
    second = run_version(tmp_path, "realm", now=0.0)
    assert second == f"{first}-2" and not first.startswith("version_")
