"""One synthetic-hospital cohort and its MEDS export for the MEDS tests of a session."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.data.meds import export_meds
from tests.data.meds.meds_fixtures import synthetic_cohort


@pytest.fixture(scope="session")
def synthetic_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cohort folder, its MEDS export) for a 60-stay synthetic hospital."""
    root = tmp_path_factory.mktemp("synthetic-meds")
    cohort = synthetic_cohort(root)
    return cohort, export_meds(cohort, root / "meds")
