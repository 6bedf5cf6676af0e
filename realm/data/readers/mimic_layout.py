"""Table layouts of the MIMIC sources, kept as data (``layouts/<source>.yaml``).

A layout says where each table lives (folder and file name, matched without regard to
case, ``.csv`` or ``.csv.gz``), what the source calls the columns the reader uses (its
*roles*), and the few rules that differ between source versions: how age is computed, how
event rows join to ICU stays, which notes are read and which only counted, and whether an
order's start holds a day or a time. :func:`load_layout` checks all of it up front, so a
typo in a layout is a :class:`ConfigError` naming the file and the key, not a failed scan
halfway through a 33 GB table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from realm.errors import ConfigError
from realm.resources import resource_path

__all__ = ["AGE_RULES", "JOINS", "TableLayout", "MimicLayout", "load_layout", "layout_path"]

LAYOUT_DIR = Path(__file__).with_name("layouts")

#: How age at ICU admission is computed: from the (shifted) date of birth, or MIMIC-IV's
#: anchor_age at anchor_year.
AGE_RULES: dict[str, tuple[str, ...]] = {
    "date_of_birth": ("dob",),
    "anchor_year": ("anchor_age", "anchor_year"),
}
#: How an event row finds its ICU stay (see mimic_events.scan_sql).
JOINS = ("stay", "hadm_stay", "subject")
#: DuckDB types a layout may give a column (``types``).
TYPES = ("BIGINT", "INTEGER", "DOUBLE", "TIMESTAMP", "DATE", "VARCHAR")

_EVENT_ROLES = ("subject_id", "hadm_id", "itemid", "time", "value", "valuenum", "unit")
_NOTE_ROLES = ("note_id", "hadm_id", "time", "text")


@dataclass(frozen=True)
class _TableSpec:
    """What the reader needs of one table: required roles, optional roles, allowed keys."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    may_be_absent: bool = False


_SPECS: dict[str, _TableSpec] = {
    "patients": _TableSpec(("subject_id", "sex", "dod"), ("dob", "anchor_age", "anchor_year")),
    "admissions": _TableSpec(("subject_id", "hadm_id", "admittime", "dischtime", "deathtime",
                              "insurance", "ethnicity", "hospital_expire_flag")),
    "icustays": _TableSpec(("subject_id", "hadm_id", "stay_id", "first_unit", "last_unit",
                            "intime", "outtime"), ("first_ward", "last_ward")),
    "chartevents": _TableSpec(_EVENT_ROLES, ("stay_id", "error"), ("join", "dictionary")),
    "labevents": _TableSpec(_EVENT_ROLES, ("stay_id", "error"), ("join", "dictionary")),
    "d_items": _TableSpec(("itemid",), ("label",)),
    "d_labitems": _TableSpec(("itemid",), ("label",)),
    "notes": _TableSpec(_NOTE_ROLES, ("subject_id", "date", "category", "error"),
                        ("category", "exclude_category", "exclude_reason"), may_be_absent=True),
    "discharge_notes": _TableSpec(("hadm_id",), _NOTE_ROLES + ("subject_id",),
                                  ("count_field", "count_reason"), may_be_absent=True),
    "diagnoses_icd": _TableSpec(may_be_absent=True),
    "prescriptions": _TableSpec(("hadm_id", "start", "drug"), ("route",), ("date_only",),
                                may_be_absent=True),
}
_REQUIRED_TABLES = ("patients", "admissions", "icustays", "chartevents", "labevents",
                    "d_items", "d_labitems", "notes")
_TABLE_KEYS = ("file", "folder", "optional", "columns", "optional_columns", "types")


@dataclass(frozen=True)
class TableLayout:
    """One table of a layout.

    ``columns`` maps each role to the column name the source uses (all must be in the
    file); ``optional_columns`` roles are used when the file has them. ``options`` holds the
    table's rules (``join``, ``dictionary``, ``category``, ``exclude_category`` and
    ``exclude_reason``, ``date_only``, ``count_field``, ``count_reason``), checked against the
    table kind.
    """

    key: str
    file: str
    folder: str = ""
    optional: bool = False
    columns: Mapping[str, str] = field(default_factory=dict)
    optional_columns: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def column(self, role: str) -> str | None:
        """The source's name of ``role`` (required or optional), or None if not laid out."""
        return self.columns.get(role) or self.optional_columns.get(role)


@dataclass(frozen=True)
class MimicLayout:
    """A source version's layout: its name, label, itemid map, age rule and tables."""

    path: Path
    source: str
    label: str
    itemids: str
    age_rule: str
    tables: Mapping[str, TableLayout]
    age_over_89: float | None = None


def layout_path(name_or_path: str | Path) -> Path:
    """A shipped layout by source name (``"mimic3"``) or a user's YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    return LAYOUT_DIR / f"{name_or_path}.yaml"


def _fail(path: Path, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {problem}")


def _mapping(path: Path, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a mapping, got {type(value).__name__}")
    return value


def _text(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, f"expected a non-empty string, got {value!r}")
    return value


def _names(path: Path, key: str, value: Any) -> dict[str, str]:
    return {role: _text(path, f"{key}.{role}", name)
            for role, name in _mapping(path, key, value).items()}


def _table(path: Path, key: str, raw: Any) -> TableLayout:
    where = f"tables.{key}"
    spec = _SPECS.get(key)
    if spec is None:
        raise _fail(path, where, f"unknown table (known: {', '.join(_SPECS)})")
    raw = _mapping(path, where, raw)
    for name in raw:
        if name not in _TABLE_KEYS + spec.keys:
            raise _fail(path, f"{where}.{name}", "unknown key for this table")
    columns = _names(path, f"{where}.columns", raw.get("columns"))
    optional_columns = _names(path, f"{where}.optional_columns", raw.get("optional_columns"))
    for kind, roles in (("columns", columns), ("optional_columns", optional_columns)):
        for role in roles:
            if role not in spec.required + spec.optional:
                raise _fail(path, f"{where}.{kind}.{role}", "unknown column role")
    for role in spec.required:
        if role not in columns:
            raise _fail(path, f"{where}.columns.{role}", "missing (a required column role)")
    types = _names(path, f"{where}.types", raw.get("types"))
    for role, kind in types.items():
        if role not in columns and role not in optional_columns:
            raise _fail(path, f"{where}.types.{role}", "type of a column the table does not lay out")
        if kind not in TYPES:
            raise _fail(path, f"{where}.types.{role}", f"unknown type {kind!r} (known: {', '.join(TYPES)})")
    optional = raw.get("optional", False)
    if not isinstance(optional, bool) or (optional and not spec.may_be_absent):
        raise _fail(path, f"{where}.optional", f"{optional!r} is not allowed for this table")
    options = {name: raw[name] for name in spec.keys if name in raw}
    if "join" in spec.keys and options.get("join") not in JOINS:
        raise _fail(path, f"{where}.join", f"expected one of {', '.join(JOINS)}, got {options.get('join')!r}")
    if "dictionary" in spec.keys and options.get("dictionary") not in ("d_items", "d_labitems"):
        raise _fail(path, f"{where}.dictionary", "expected d_items or d_labitems")
    if "date_only" in spec.keys and not isinstance(options.get("date_only"), bool):
        raise _fail(path, f"{where}.date_only", "expected true or false")
    for name in ("category", "exclude_category", "exclude_reason", "count_field", "count_reason"):
        if name in options:
            _text(path, f"{where}.{name}", options[name])
    if key == "notes" and ("category" in columns) == ("category" in options):
        raise _fail(path, f"{where}.category",
                    "give either a category column or one category for every note")
    if "exclude_category" in options and "category" not in columns:
        raise _fail(path, f"{where}.exclude_category", "needs a category column")
    if ("exclude_category" in options) != ("exclude_reason" in options):
        raise _fail(path, f"{where}.exclude_reason", "exclude_category and exclude_reason go together")
    if key == "discharge_notes" and not {"count_field", "count_reason"} <= set(options):
        raise _fail(path, where, "count_field and count_reason are required")
    return TableLayout(
        key=key,
        file=_text(path, f"{where}.file", raw.get("file")),
        folder=str(raw.get("folder") or ""),
        optional=optional,
        columns=columns,
        optional_columns=optional_columns,
        types=types,
        options=options,
    )


def load_layout(name_or_path: str | Path) -> MimicLayout:
    """Read and check a layout (a shipped source name or a YAML path).

    Raises :class:`ConfigError` naming the file and the key of the first problem.
    """
    path = layout_path(name_or_path)
    if not path.is_file():
        shipped = sorted(p.stem for p in LAYOUT_DIR.glob("*.yaml"))
        raise ConfigError(f"no MIMIC layout {str(name_or_path)!r} (shipped: {', '.join(shipped)})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    raw = _mapping(path, "(top level)", raw)
    known = ("source", "label", "itemids", "age", "tables")
    for key in raw:
        if key not in known:
            raise _fail(path, key, f"unknown key (known: {', '.join(known)})")
    age = _mapping(path, "age", raw.get("age"))
    rule = age.get("rule")
    if rule not in AGE_RULES:
        raise _fail(path, "age.rule", f"expected one of {', '.join(AGE_RULES)}, got {rule!r}")
    over_89 = age.get("over_89")
    if over_89 is not None and not isinstance(over_89, (int, float)):
        raise _fail(path, "age.over_89", f"expected a number, got {over_89!r}")
    tables_raw = _mapping(path, "tables", raw.get("tables"))
    tables = {key: _table(path, key, value) for key, value in tables_raw.items()}
    for key in _REQUIRED_TABLES:
        if key not in tables:
            raise _fail(path, f"tables.{key}", "missing (a required table)")
    for role in AGE_RULES[rule]:
        if role not in tables["patients"].columns:
            raise _fail(path, f"tables.patients.columns.{role}", f"missing (age rule {rule})")
    itemids = _text(path, "itemids", raw.get("itemids"))
    if not resource_path(itemids).is_file():
        raise _fail(path, "itemids", f"no itemid map {itemids!r} in realm/resources")
    return MimicLayout(
        path=path,
        source=_text(path, "source", raw.get("source")),
        label=_text(path, "label", raw.get("label")),
        itemids=itemids,
        age_rule=rule,
        tables=tables,
        age_over_89=None if over_89 is None else float(over_89),
    )
