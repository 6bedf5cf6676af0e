"""``realm extract --extractor llm`` against a loopback fake server: the counts file, the
one-line summary, and no silent empty result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realm.cli import main
from realm.pipeline.extract import LLM_COUNTS_FILE
from tests.llm_dialects import serving
from tests.pipeline.test_extract_cli import tiny  # noqa: F401 - the tiny cohort and KG fixture


def llm_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "llm.yaml"
    path.write_text(json.dumps({
        "model": {"provider": "openai", "model": "fake", "base_url": url, "kwargs": {"max_retries": 0}},
        "extractor": {"max_concurrency": 2, "backoff": 0.0, "retries": 1, "cache": False},
    }))
    return path


def run(tiny: tuple[Path, Path, Path], tmp_path: Path, url: str) -> int:  # noqa: F811
    cohort_dir, spec, _ = tiny
    return main(["extract", "--cohort", str(cohort_dir), "--extractor", "llm", "--kg", str(spec),
                 "--llm-config", str(llm_config(tmp_path, url)), "--linker", "dictionary", "--no-timeseries",
                 "--no-prescriptions", "--out", str(tmp_path / "out"), "--no-progress"])


def test_an_llm_run_writes_its_counts_and_prints_a_summary(tiny: tuple[Path, Path, Path], tmp_path: Path,  # noqa: F811
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with serving("llamacpp", refuse=frozenset({"tools"})) as server:
        assert run(tiny, tmp_path, server.url) == 0
    counts = json.loads((tmp_path / "out" / LLM_COUNTS_FILE).read_text())
    assert counts["run"] == "complete" and counts["method"] == "json_mode" and counts["structured"] == "auto"
    assert counts["methods"] == {"json_mode": 3} and counts["method_share"] == {"json_mode": 1.0}
    assert counts["chunks"] == 3 and counts["failed_chunks"] == 0 and counts["calls"] == 7  # 4 refused + 3
    for key in ("retries", "repairs", "unusable_answers", "empty_answers", "hallucinations"):
        assert key in counts
    assert "method json_mode (chunks: json_mode 3)" in capsys.readouterr().out


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_server_never_ends_in_an_empty_successful_run(tiny: tuple[Path, Path, Path], tmp_path: Path,  # noqa: F811
                                                                status: int) -> None:
    # before: each chunk's 500 was retried as transient, then skipped: 0 mentions, exit 0
    with serving("llamacpp", fail_all=status) as server:
        assert run(tiny, tmp_path, server.url) == 1
    assert not (tmp_path / "out" / "mentions.parquet").exists()
    counts = json.loads((tmp_path / "out" / LLM_COUNTS_FILE).read_text())
    assert counts["run"] == "failed"
