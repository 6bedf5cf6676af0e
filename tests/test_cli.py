"""The `realm` entry point: lazy groups, help for every group, errors as exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from realm.cli import BENCHES, GROUPS, main


def test_top_level_help_does_not_import_torch() -> None:
    code = "import sys; from realm.cli import main; main([]); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


@pytest.mark.parametrize("group", ["data", "kg", "extract", "evaluate"])
def test_group_help_lists_its_own_arguments(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([group, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"realm {group}" in out and len(out.splitlines()) > 3


def test_every_registered_module_exists() -> None:
    import importlib.util

    for module, _ in list(GROUPS.values()) + list(BENCHES.values()):
        assert importlib.util.find_spec(module) is not None, module


def test_realm_error_becomes_exit_code_1(tmp_path) -> None:
    missing = tmp_path / "nowhere"
    assert main(["data", "prepare", "--source", "physionet2012", "--root", str(missing),
                 "--out", str(tmp_path / "c")]) == 1


def test_http_request_logs_stay_off_the_console_unless_verbose() -> None:
    # one "HTTP Request: POST ..." INFO line per LLM call drowned realm's own progress
    import logging

    from realm.cli import console_logging

    console_logging(False)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    console_logging(True)
    assert logging.getLogger("httpx2").isEnabledFor(logging.DEBUG)
    console_logging(False)
