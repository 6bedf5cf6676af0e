"""realm.cache: atomic writes, file modes, stale temporaries, concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from realm.cache import atomic_dir, atomic_path, remove_stale_temps, stage_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_path_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "report.html") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "report.html") == 0o644


def test_atomic_dir_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_dir(tmp_path / "cohort") as tmp:
            (tmp / "a.txt").write_text("x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "cohort") == 0o750


def test_a_new_cache_root_is_private(tmp_path: Path) -> None:
    stage_dir("cohort", "abc", root=tmp_path / "cache")
    assert _mode(tmp_path / "cache") == 0o700


def test_a_failed_write_leaves_the_old_result_and_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "result"
    with atomic_dir(target) as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "v").write_text("2")
        raise RuntimeError("killed")
    assert (target / "v").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["result"]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "mentions.parquet"
    dead = tmp_path / f".mentions.parquet.{_dead_pid()}.abc.tmp"
    dead.write_text("half")
    dead_dir = tmp_path / f".mentions.parquet.{_dead_pid()}.def.tmp"
    dead_dir.mkdir()
    live = tmp_path / f".mentions.parquet.{os.getpid()}.ghi.tmp"
    live.write_text("in progress")
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert not dead.exists() and not dead_dir.exists()
    assert live.exists()  # a live writer's work is never touched
    assert remove_stale_temps(target) == 0


def _writer(target: str, value: str, rounds: int) -> None:
    for _ in range(rounds):
        with atomic_dir(target) as tmp:
            for name in ("stays.parquet", "events.parquet", "meta.json"):
                (tmp / name).write_text(value)


def test_two_writers_of_one_target_both_succeed(tmp_path: Path) -> None:
    target = str(tmp_path / "cohort")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(target, v, 25)) for v in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    values = {(Path(target) / n).read_text() for n in ("stays.parquet", "events.parquet", "meta.json")}
    assert len(values) == 1  # one writer's complete result, never a mix
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers


def test_replacing_a_folder_never_leaves_it_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rename atomic_dir makes while replacing must leave the target in place: a reader
    polling it during ``realm data prepare --force`` must always find a cohort."""
    import realm.cache

    target = tmp_path / "cohort"
    with atomic_dir(target) as tmp:
        (tmp / "meta.json").write_text("old")
    gaps: list[str] = []
    real_replace = os.replace

    def watched(src: object, dst: object) -> None:
        real_replace(src, dst)
        if not target.is_dir():
            gaps.append(f"{src} -> {dst}")

    monkeypatch.setattr(realm.cache.os, "replace", watched)
    with atomic_dir(target) as tmp:
        (tmp / "meta.json").write_text("new")
    assert not gaps
    assert (target / "meta.json").read_text() == "new"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_without_an_exchange_the_folder_is_still_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system cannot swap two folders, the old one is moved aside, then removed."""
    import realm.cache

    monkeypatch.setattr(realm.cache, "_exchange", lambda a, b: False)
    target = tmp_path / "cohort"
    for value in ("old", "new"):
        with atomic_dir(target) as tmp:
            (tmp / "meta.json").write_text(value)
    assert (target / "meta.json").read_text() == "new"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
