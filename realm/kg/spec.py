"""``load_kg(spec)``: one call from a name or a YAML file to a cached KnowledgeGraph.

A spec is a built-in name (see :data:`BUILTINS`) or a path to a YAML file::

    name: sepsis-mini            # the KG's name
    strict: false                # true: the first bad row fails the build
    sources:                     # merged in order; files are relative to the YAML
      - loader: csv              # csv | primekg | obo | networkx | builtin
        nodes: nodes.csv
        edges: edges.csv
      - loader: builtin          # a built-in KG as one part of a custom one
        name: hpo

Built graphs are cached under ``stage_dir("kg", key)``, the key hashing the spec, the
digests of every input file and :data:`RECIPE_VERSION`, so a changed file or package
rebuilds and an unchanged one is read back in seconds.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from realm.cache import atomic_path, config_hash, inputs_digest, stage_dir
from realm.errors import ConfigError, DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders import LOADERS
from realm.kg.loaders.report import LoadReport

__all__ = ["load_kg", "kg_identity", "KGIdentity", "kg_cache_path", "BUILTINS", "RECIPE_VERSION"]

log = logging.getLogger(__name__)

#: Bump when the meaning of a cached graph changes in a way the hashed inputs (data files,
#: and for built-ins the building code itself) do not capture.
RECIPE_VERSION = "2"
#: Keys a source entry may name as files (resolved against the YAML's folder).
_FILE_KEYS = ("nodes", "edges", "path", "kg", "features")
_GRAPH_FILE = "graph.json.gz"
#: Beside the cached graph: its name and version, read without parsing the graph.
_IDENTITY_FILE = "identity.json"
#: Beside the cached graph: the same graph pickled, read in ~2.5 s instead of ~8 s (JSON
#: parsing and networkx's edge insertion) for the default KG, which a demo loads 3-4 times.
_FAST_FILE = "graph.pickle"


@dataclass(frozen=True)
class KGIdentity:
    """What names a built KG in cache keys and reports: its name and content version."""

    name: str
    version: str


def _code_files() -> list[Path]:
    """The code that builds the built-ins: a changed loader or recipe must not reuse a cache."""
    here = Path(__file__).resolve().parent
    return sorted([*here.glob("loaders/*.py"), *here.glob("sources/*.py"), here / "default.py", here / "joins.py",
                   here / "findings_table.py"])


def _hpo_inputs() -> list[Path]:
    from realm.kg.sources import hpo

    return [hpo.data_dir() / "hp.obo", *_code_files()]


def _hpo_build(progress: bool, strict: bool) -> KnowledgeGraph:
    from realm.kg.sources import hpo

    return hpo.phenotypes(LoadReport("HPO", strict=strict))


def _default_inputs() -> list[Path]:
    from realm.kg import default

    return [*default.input_files(), *_code_files()]


def _default_build(progress: bool, strict: bool) -> KnowledgeGraph:
    from realm.kg import default

    return default.build_default_kg(progress=progress, strict=strict)


#: name -> (input files for the cache key, builder(progress, strict))
BUILTINS: dict[str, tuple[Callable[[], list[Path]], Callable[[bool, bool], KnowledgeGraph]]] = {
    "hpo": (_hpo_inputs, _hpo_build),
    "default": (_default_inputs, _default_build),
}


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list) or not raw["sources"]:
        raise ConfigError(f"{path}: a KG spec needs a non-empty 'sources' list")
    spec = {"name": str(raw.get("name", path.stem)), "strict": bool(raw.get("strict", False)), "sources": []}
    for i, entry in enumerate(raw["sources"]):
        if not isinstance(entry, dict) or "loader" not in entry:
            raise ConfigError(f"{path}: sources[{i}] needs a 'loader' key")
        loader = entry["loader"]
        if loader != "builtin" and loader not in LOADERS:
            raise ConfigError(f"{path}: sources[{i}] loader {loader!r} is not one of {sorted(LOADERS) + ['builtin']}")
        if loader == "builtin" and entry.get("name") not in BUILTINS:
            raise ConfigError(f"{path}: sources[{i}] builtin {entry.get('name')!r} is not one of {sorted(BUILTINS)}")
        resolved = dict(entry)
        for key in _FILE_KEYS:
            if key in resolved:
                file = (path.parent / str(resolved[key])).resolve()
                if not file.is_file():
                    raise DataError(f"sources[{i}].{key} not found", path=file)
                resolved[key] = file
        spec["sources"].append(resolved)
    return spec


def _spec_inputs(spec: dict[str, Any]) -> list[Path]:
    files: list[Path] = []
    for entry in spec["sources"]:
        if entry["loader"] == "builtin":
            files += BUILTINS[entry["name"]][0]()
        files += [entry[k] for k in _FILE_KEYS if k in entry]
    return files


def _resolve(spec: str | os.PathLike) -> tuple[str, dict[str, Any] | None, list[Path]]:
    """(display name, parsed YAML spec or None for a built-in, input files)."""
    if isinstance(spec, str) and spec in BUILTINS:
        return spec, None, BUILTINS[spec][0]()
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"KG spec {str(spec)!r} is neither a built-in ({sorted(BUILTINS)}) nor a YAML file")
    parsed = _read_spec(path)
    return str(path), parsed, _spec_inputs(parsed)


def kg_cache_path(spec: str | os.PathLike = "default") -> Path:
    """Where the built graph for ``spec`` is (or would be) cached."""
    _, parsed, inputs = _resolve(spec)
    return _cache_file(spec, parsed, inputs)


def _cache_file(spec: str | os.PathLike, parsed: dict[str, Any] | None, inputs: list[Path]) -> Path:
    described = spec if parsed is None else {**parsed, "sources": [
        {k: (v.name if isinstance(v, Path) else v) for k, v in e.items()} for e in parsed["sources"]
    ]}
    key = config_hash(described, inputs_digest(inputs), RECIPE_VERSION)
    return stage_dir("kg", key) / _GRAPH_FILE


def _build_from_spec(parsed: dict[str, Any], progress: bool) -> KnowledgeGraph:
    kg = KnowledgeGraph(parsed["name"])
    for entry in parsed["sources"]:
        options = {k: v for k, v in entry.items() if k != "loader"}
        if entry["loader"] == "builtin":
            part = BUILTINS[entry["name"]][1](progress, parsed["strict"])
        else:
            report = LoadReport(str(entry.get("nodes") or entry.get("path") or entry.get("kg")), strict=parsed["strict"])
            part = LOADERS[entry["loader"]](**options, report=report)
        kg.merge(part)
    return kg


def load_kg(spec: str | os.PathLike = "default", *, rebuild: bool = False, progress: bool = True) -> KnowledgeGraph:
    """Load the KG named by ``spec`` (built-in name or YAML path), building it if not cached."""
    name, parsed, inputs = _resolve(spec)
    target = _cache_file(spec, parsed, inputs)
    if target.is_file() and not rebuild:
        log.info("KG %s: cached at %s", name, target)
        kg = _read_fast(target)
        if kg is None:
            kg = KnowledgeGraph.load(target)
            _write_fast(target, kg)
        if not target.with_name(_IDENTITY_FILE).is_file():  # cached by a version without it
            _write_identity(target, kg)
        return kg
    started = time.perf_counter()
    if parsed is None:
        kg = BUILTINS[str(spec)][1](progress, False)
    else:
        kg = _build_from_spec(parsed, progress)
    kg.save(target)
    _write_identity(target, kg)
    _write_fast(target, kg)
    log.info("KG %s: built %d nodes, %d edges in %.1f s -> %s (version %s)", name, len(kg),
             kg.graph.number_of_edges(), time.perf_counter() - started, target, kg.version)
    return kg


def kg_identity(spec: str | os.PathLike = "default", *, progress: bool = True) -> KGIdentity:
    """Name and version of the KG ``spec`` names, building it if it is not cached.

    Read from a small file beside the cached graph: a step that only keys its cache by the
    KG's version (a warm demo) skips parsing the graph, which takes seconds for the default KG.
    """
    target = kg_cache_path(spec)
    identity = target.with_name(_IDENTITY_FILE)
    if target.is_file() and identity.is_file():
        data = json.loads(identity.read_text())
        return KGIdentity(str(data["name"]), str(data["version"]))
    kg = load_kg(spec, progress=progress)
    return KGIdentity(kg.name, kg.version)


def _write_identity(target: Path, kg: KnowledgeGraph) -> None:
    with atomic_path(target.with_name(_IDENTITY_FILE)) as tmp:
        tmp.write_text(json.dumps({"name": kg.name, "version": kg.version}))


def _fast_stamp(target: Path) -> tuple[Any, ...]:
    """What the pickle must have been written for: this very graph file (size, mtime), the
    code of the pickled classes (the graph, its Node records) and the library versions (a
    pickle is not portable across them)."""
    import networkx

    here = Path(__file__).resolve().parent
    stat = target.stat()
    return (stat.st_size, stat.st_mtime_ns, inputs_digest([here / "graph.py", here.parent / "records.py"]),
            networkx.__version__, sys.version_info[:2])


def _read_fast(target: Path) -> KnowledgeGraph | None:
    """The pickled copy of the graph at ``target``, or None when there is none for this very
    file and code. Pickle is safe here: the file lies in realm's own cache folder and only
    :func:`_write_fast` writes it (the JSON stays the portable format)."""
    fast = target.with_name(_FAST_FILE)
    if not fast.is_file():
        return None
    try:
        with fast.open("rb") as fh:
            if pickle.load(fh) != _fast_stamp(target):
                return None
            kg = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError) as exc:
        log.info("KG cache %s unreadable (%s); reading the JSON", fast, type(exc).__name__)
        return None
    return kg if isinstance(kg, KnowledgeGraph) else None


def _write_fast(target: Path, kg: KnowledgeGraph) -> None:
    with atomic_path(target.with_name(_FAST_FILE)) as tmp, tmp.open("wb") as fh:
        pickle.dump(_fast_stamp(target), fh, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(kg, fh, protocol=pickle.HIGHEST_PROTOCOL)
