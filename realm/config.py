"""Typed configs read from YAML: how the demo, every bench and every stage take settings.

A stage's settings are a frozen dataclass (typed fields, defaults, a docstring per field);
tuned values live in YAML under the repository's ``configs/`` folder, reviewed in diffs. This
module reads such a file into the dataclass with jsonargparse (the library LightningCLI uses),
so a mistyped key or a value of the wrong type is refused with the file and key named, the same
way ``realm fit --config`` refuses them::

    cfg = load_config(SyntheticBenchConfig, "bench/synthetic.yaml", out=Path("syn.json"))

Command lines keep only what a run needs (data paths, outputs, seeds, which models); they are
passed as ``overrides``.
"""

from __future__ import annotations

import dataclasses
import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from realm.errors import ConfigError

__all__ = ["CONFIGS", "config_path", "load_config", "config_dict", "merge_configs"]

T = TypeVar("T")

#: The repository's ``configs/`` folder (the package sits beside it in a checkout).
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def config_path(name: str | Path) -> Path:
    """``name`` as a file: an existing path as given, else relative to :data:`CONFIGS`."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = CONFIGS / path
    if shipped.is_file():
        return shipped
    raise ConfigError(f"config {str(name)!r} not found (neither a file nor {shipped}); realm reads "
                      "its shipped configs from the checkout's configs/ folder")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def load_config(cls: type[T], source: str | Path | Mapping[str, Any] | None = None,
                **overrides: Any) -> T:
    """An instance of the dataclass ``cls`` from a YAML file (a path, or a name under
    ``configs/``) or a mapping, with ``overrides`` on top (``None`` values are skipped).
    Unknown keys and wrongly typed values raise :class:`ConfigError` naming the file."""
    from jsonargparse import ArgumentParser

    if not dataclasses.is_dataclass(cls):
        raise ConfigError(f"{cls!r} is not a dataclass")
    where = "settings"
    data: dict[str, Any] = {}
    if isinstance(source, Mapping):
        data = dict(source)
    elif source is not None:
        path = config_path(source)
        where, data = str(path), _read(path)
    data.update({k: v for k, v in overrides.items() if v is not None})
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "cfg")
    try:
        namespace = parser.parse_object({"cfg": data})
        return parser.instantiate(namespace).cfg  # type: ignore[attr-defined,no-any-return]
    except Exception as exc:  # jsonargparse raises its ArgumentError for any bad key or value
        raise ConfigError(f"{where}: {cls.__name__}: {exc}") from exc


def config_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as plain JSON-ready values (paths as strings), for run records."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(cfg))


def merge_configs(sources: Sequence[str | Path | Mapping[str, Any]]) -> dict[str, Any]:
    """The YAML files (paths, or names under ``configs/``) and mappings of ``sources`` merged
    in order, as ``--config A --config B`` merges them: mappings merge key by key, anything
    else (a list, a value) is replaced by the later source."""
    def merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in top.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out

    merged: dict[str, Any] = {}
    for source in sources:
        if isinstance(source, Mapping):
            merged = merge(merged, source)
            continue
        path = config_path(source)
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
        merged = merge(merged, data)
    return merged
