"""The pipeline API's names resolve, and importing one stage leaves the training stack out."""

from __future__ import annotations

import subprocess
import sys

import realm.pipeline


def test_every_exported_name_resolves() -> None:
    for name in realm.pipeline.__all__:
        assert getattr(realm.pipeline, name) is not None, name


def test_the_extract_stage_does_not_import_torch() -> None:
    code = "import sys, realm.pipeline.extract; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
