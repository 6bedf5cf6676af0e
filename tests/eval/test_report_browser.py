"""The report in a real browser: headless Chromium renders it, figures and tables included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from realm.eval.run import run_evaluate
from realm.eval.predictions import write_predictions

from tests.eval.eval_fixtures import tiny_cohort, tiny_predictions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                       "(apt-get install -y chromium)"),
]
# Flags that keep Chromium off the network and out of the user's profile.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    cohort = tiny_cohort(root / "cohort", n=60)
    write_predictions(tiny_predictions(cohort, "REALM", 0.2, 1), root / "a.parquet")
    write_predictions(tiny_predictions(cohort, "GRU", 0.3, 2), root / "b.parquet")
    run_evaluate(root / "a.parquet", root / "out", baselines=[root / "b.parquet"], n_resamples=50)
    return root / "out" / "report.html"


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_dom_holds_rendered_figures_and_tables(report: Path, tmp_path: Path) -> None:
    dom = _chromium(["--dump-dom", report.as_uri()], tmp_path / "profile").stdout
    assert dom.count('src="data:image/svg+xml;base64,') == 8
    assert dom.count("<table") >= 6  # models, comparison, subgroups per task
    assert "Task: mortality" in dom and "Task: readmission_30d" in dom


def test_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _chromium(["--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()],
              tmp_path / "profile")
    pixels = matplotlib.image.imread(shot)[..., :3]  # (H, W, 3) in [0, 1]
    assert pixels.shape[:2] == (1600, 1200)
    dark = (pixels.mean(axis=2) < 0.5).mean()
    colored = (np.ptp(pixels, axis=2) > 0.2).mean()  # saturated pixels: the plotted curves
    assert dark > 0.005, "page rendered without text"
    assert colored > 0.001, "page rendered without coloured figures"
