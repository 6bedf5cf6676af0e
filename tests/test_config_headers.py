"""Every shipped config that reads a cohort says in its first line how to get one."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))
NEEDS_COHORT = [p for p in CONFIGS if "cohort_dir:" in p.read_text()]


def test_there_are_configs_that_read_a_cohort() -> None:
    assert len(NEEDS_COHORT) >= 6


@pytest.mark.parametrize("path", NEEDS_COHORT, ids=lambda p: p.name)
def test_first_line_says_how_to_get_a_cohort(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and "cohort" in first.lower()
    assert "realm demo" in first or "realm data prepare" in first or "realm bench" in first
