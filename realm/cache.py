"""Content-addressed caches: one root, one folder per stage, atomic writes.

Every cached result is stored under ``<root>/<stage>/<key>`` where ``key`` hashes the
inputs' content and the configuration, so two runs never collide and a changed input
never reuses a stale result. Writes go to a temporary sibling and are renamed into place,
so an interrupted run leaves no half-written result behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import glob
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
    "remove_stale_temps",
    "publish_lock",
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
    """The folder of one cached result: ``<root>/<stage>/<key>`` (not created). A cache root
    that does not exist yet is created private (0700): it will hold note text."""
    base = cache_root(root)
    if not base.exists():
        base.mkdir(parents=True, mode=0o700, exist_ok=True)
    return base / stage / key


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_prefix(target: Path) -> str:
    """Temporary siblings carry the writer's pid, so a later run can tell a killed writer's
    leftovers (remove them) from a live writer's work (leave it)."""
    return f".{target.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(target: Path) -> int:
    """Delete temporary siblings of ``target`` left by writers that no longer run (a killed
    run); returns how many were removed."""
    removed = 0
    if not target.parent.is_dir():
        return 0
    for entry in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid = entry.name[len(target.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


@contextlib.contextmanager
def publish_lock(target: Path) -> Iterator[None]:
    """An exclusive lock per target (a lock file beside it) around publishing a result, so
    two writers of one key never interleave their renames (or, for a store that updates in
    place such as a Chroma index, their writes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{target.name}.lock"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


#: renameat2(2) arguments: the current directory as the base of relative paths, and the flag
#: that swaps two existing paths in one step.
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2`` with RENAME_EXCHANGE);
    False where the system or the file system cannot, and the caller falls back to two renames.
    Python's os module has no binding for it, hence ctypes."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.
    The file gets the mode ``open()`` would give it (0666 less the umask)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600: a report or predictions file must be readable like any other file
    tmp_path.chmod(0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; swap it in for ``target`` on success.

    Concurrent writers of one target are serialized while they publish (the last one's
    folder stays, every writer ends without error). An existing target is exchanged with the
    new folder in one step, so a reader never finds it missing, and the old one (now under the
    temporary name) is removed after; where the system cannot exchange, it is moved aside
    under a unique name before the new one is renamed in."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
    # mkdtemp creates 0700; results are shared files, so honour the user's umask instead.
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        with publish_lock(target):
            if not target.exists():
                os.replace(tmp, target)
            elif not _exchange(tmp, target):
                aside = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp",
                                              dir=target.parent))
                os.replace(target, aside / target.name)
                os.replace(tmp, target)
                tmp = aside
    finally:
        # the unpublished folder, or the replaced one
        shutil.rmtree(tmp, ignore_errors=True)
