"""Content-addressed caches: one root, one folder per stage, atomic writes.

Every cached result is stored under ``<root>/<stage>/<key>`` where ``key`` hashes the
inputs' content and the configuration, so two runs never collide and a changed input
never reuses a stale result. Writes go to a temporary sibling and are renamed into place,
so an interrupted run leaves no half-written result behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "cache_root",
    "stage_dir",
    "config_hash",
    "file_digest",
    "inputs_digest",
    "atomic_path",
    "atomic_dir",
]

#: Files larger than this are fingerprinted by size, mtime and their first and last
#: chunks instead of a full read: hashing all 33 GB of MIMIC-III CHARTEVENTS on every
#: run would cost minutes for no gain (PhysioNet files never change in place).
FULL_HASH_LIMIT = 256 * 1024 * 1024
_CHUNK = 16 * 1024 * 1024


def cache_root(root: str | os.PathLike | None = None) -> Path:
    """The cache root: ``root`` if given, else ``$REALM_CACHE``, else ``~/.cache/realm``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("REALM_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "realm"


def stage_dir(stage: str, key: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of one cached result: ``<root>/<stage>/<key>`` (not created)."""
    return cache_root(root) / stage / key


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and isinstance(getattr(value, "value"), (str, int)):
        return value.value  # enums
    return value


def config_hash(*parts: Any, length: int = 16) -> str:
    """A stable hex digest of JSON-able parts (dicts, dataclasses, lists, scalars)."""
    blob = json.dumps(_jsonable(list(parts)), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def file_digest(path: str | os.PathLike) -> str:
    """A digest of one file's content (see :data:`FULL_HASH_LIMIT` for large files)."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as fh:
        if size <= FULL_HASH_LIMIT:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        else:
            h.update(f"{size}:{path.stat().st_mtime_ns}".encode())
            h.update(fh.read(_CHUNK))
            fh.seek(size - _CHUNK)
            h.update(fh.read(_CHUNK))
    return h.hexdigest()


def inputs_digest(paths: list[str | os.PathLike], length: int = 16) -> str:
    """A digest over several input files (or every file below given folders), by name and content."""
    entries: list[tuple[str, str]] = []
    for p in paths:
        p = Path(p)
        # compiled bytecode carries source mtimes: it would change the digest on every clone
        files = (sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
                 if p.is_dir() else [p])
        for f in files:
            rel = str(f.relative_to(p)) if p.is_dir() else f.name
            entries.append((rel, file_digest(f)))
    return config_hash(entries, length=length)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; swap it in for ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    # mkdtemp creates 0700; results are shared files, so honour the user's umask instead.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
