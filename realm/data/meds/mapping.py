"""A MEDS code mapping: which codes of a MEDS dataset realm reads, and as what.

A mapping is a YAML file, not code (the shipped ones live in ``realm/data/meds/mappings/``)::

    name: realm_export
    stay_id_column: stay_id      # optional extra columns of the data holding realm's ids;
    hadm_id_column: hadm_id      # without them stays and admissions are found by time
    note_id_column: note_id
    unknown_unit: UNK            # a unit group with this value means "no unit"
    icu_admission: {pattern: "^ICU_ADMISSION(//(?P<icu_type>.+))?$"}
    icu_discharge: {code: ICU_DISCHARGE}
    hospital_admission: {code: HOSPITAL_ADMISSION}   # optional, as the next two
    hospital_discharge: {code: HOSPITAL_DISCHARGE}
    death: {code: MEDS_DEATH}
    birth: {code: MEDS_BIRTH}    # optional: age at ICU admission where no age row gives it
    stay_attributes:             # a stays column per code; numeric_value, else the
      - {code: AGE, column: age}                     # `value` group, else text_value
      - {pattern: "^GENDER//(?P<value>.+)$", column: sex}
    time_series:                 # variable (a name of realm/resources/variables.csv), unit
      - {pattern: "^LAB//(?P<variable>.+)//(?P<unit>[^/]*)$"}
      - {code: "LAB//220045//bpm", variable: heart_rate, unit: bpm}
      - {code: "LAB//223761//°F", variable: temperature, unit: degF, conversion: f_to_c}
    notes:                       # category; the text is text_value
      - {pattern: "^NOTE//(?P<category>.+)$"}
    medications:                 # drug; the route is text_value
      - {pattern: "^MEDICATION//(?P<drug>.+)$"}
    ignore:                      # codes known and deliberately unused (not counted)
      - {code: MEDS_BIRTH}

Each rule matches one exact ``code`` or a regular expression ``pattern`` (whole code; named
groups fill fields); any other key of a rule is a fixed field. A time-series rule's optional
``conversion`` (a name of ``realm.data.readers.mimic_values.CONVERSIONS``: ``f_to_c``,
``lb_to_kg``, ``in_to_cm``, ``fio2_fraction``, ``gcs_eye``, ...) converts its values, parsing
``text_value`` where ``numeric_value`` is empty, to the variable's unit in variables.csv,
which becomes the rows' unit. The first rule that matches a
code wins, in the order above. A code no rule matches is counted per code in the cohort's
quality report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from realm.data.readers.mimic_values import CONVERSIONS
from realm.errors import DataError

__all__ = ["CodeRule", "MedsMapping", "load_mapping", "packaged_mapping", "EVENT_KINDS",
           "LIST_KINDS"]

#: Single-rule entries: the codes that make stays and admissions.
EVENT_KINDS: tuple[str, ...] = ("icu_admission", "icu_discharge", "hospital_admission",
                                "hospital_discharge", "death", "birth")
#: Rule lists, in matching order after the single rules.
LIST_KINDS: tuple[str, ...] = ("stay_attributes", "time_series", "notes", "medications", "ignore")
#: Fields each kind needs from its rule (fixed or a named group).
NEEDED: dict[str, tuple[str, ...]] = {"stay_attributes": ("column",), "time_series": ("variable",),
                                      "notes": ("category",), "medications": ("drug",)}
STAY_ATTRIBUTES: tuple[str, ...] = ("age", "sex", "height", "weight", "ethnicity", "insurance",
                                    "icu_type")
_ID_KEYS = ("stay_id_column", "hadm_id_column", "note_id_column")


@dataclass(frozen=True)
class CodeRule:
    """One rule: an exact ``code`` or a ``pattern``, and fixed ``fields``."""

    code: str | None = None
    pattern: str | None = None
    fields: tuple[tuple[str, str], ...] = ()

    def match(self, code: str) -> dict[str, str] | None:
        """The fields this rule gives ``code`` (named groups, then fixed ones), or None."""
        if self.code is not None:
            return dict(self.fields) if code == self.code else None
        found = re.fullmatch(self.pattern or "", code)
        if found is None:
            return None
        groups = {k: v for k, v in found.groupdict().items() if v is not None}
        return {**groups, **dict(self.fields)}


@dataclass(frozen=True)
class MedsMapping:
    """A parsed mapping file (see the module docstring)."""

    name: str
    icu_admission: CodeRule
    icu_discharge: CodeRule
    hospital_admission: CodeRule | None = None
    hospital_discharge: CodeRule | None = None
    death: CodeRule | None = None
    birth: CodeRule | None = None
    stay_attributes: tuple[CodeRule, ...] = ()
    time_series: tuple[CodeRule, ...] = ()
    notes: tuple[CodeRule, ...] = ()
    medications: tuple[CodeRule, ...] = ()
    ignore: tuple[CodeRule, ...] = ()
    stay_id_column: str | None = None
    hadm_id_column: str | None = None
    note_id_column: str | None = None
    unknown_unit: str | None = None
    source: str = field(default="", compare=False)

    def classify(self, code: str) -> tuple[str, dict[str, str]] | None:
        """The kind of ``code`` (an EVENT_KINDS or LIST_KINDS name) and its fields, or None
        when no rule matches."""
        for kind in EVENT_KINDS:
            rule = getattr(self, kind)
            fields = rule.match(code) if rule is not None else None
            if fields is not None:
                return kind, fields
        for kind in LIST_KINDS:
            for rule in getattr(self, kind):
                fields = rule.match(code)
                if fields is not None:
                    return kind, fields
        return None


def _rule(raw: Any, path: Path, where: str) -> CodeRule:
    if isinstance(raw, str):
        raw = {"code": raw}
    if not isinstance(raw, dict) or ("code" in raw) == ("pattern" in raw):
        raise DataError("a rule needs exactly one of `code` and `pattern`", path=path, field=where)
    pattern = raw.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise DataError(f"bad regular expression ({exc})", path=path, field=where) from exc
    fields = tuple(sorted((str(k), str(v)) for k, v in raw.items() if k not in ("code", "pattern")))
    return CodeRule(code=None if "code" not in raw else str(raw["code"]),
                    pattern=None if pattern is None else str(pattern), fields=fields)


def _check_fields(kind: str, rule: CodeRule, path: Path, where: str) -> None:
    """Every field the kind needs must be fixed or a named group of the pattern."""
    given = {k for k, _ in rule.fields}
    if rule.pattern is not None:
        given |= set(re.compile(rule.pattern).groupindex)
    for needed in NEEDED.get(kind, ()):
        if needed not in given:
            raise DataError(f"a {kind} rule must give `{needed}`", path=path, field=where)
    conversion = dict(rule.fields).get("conversion")
    if conversion is not None and (kind != "time_series" or conversion not in CONVERSIONS):
        raise DataError(f"conversion {conversion!r}: time_series rules only, one of "
                        f"{CONVERSIONS}", path=path, field=where)
    column = dict(rule.fields).get("column")
    if kind == "stay_attributes" and column is not None and column not in STAY_ATTRIBUTES:
        raise DataError(f"unknown stays column {column!r} (choose from {STAY_ATTRIBUTES})",
                        path=path, field=where)


def load_mapping(path: str | Path) -> MedsMapping:
    """Read and check a mapping YAML file; errors name the file and the entry at fault."""
    path = Path(path)
    if not path.is_file():
        raise DataError("MEDS mapping file not found", path=path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"not valid YAML ({exc})", path=path) from exc
    if not isinstance(raw, dict):
        raise DataError("a mapping file holds a YAML mapping", path=path)
    known = {"name", *EVENT_KINDS, *LIST_KINDS, *_ID_KEYS, "unknown_unit"}
    for key in raw:
        if key not in known:
            raise DataError(f"unknown key (expected one of {sorted(known)})", path=path, field=key)
    args: dict[str, Any] = {"name": str(raw.get("name", path.stem)), "source": str(path)}
    for kind in EVENT_KINDS:
        if raw.get(kind) is not None:
            args[kind] = _rule(raw[kind], path, kind)
        elif kind in ("icu_admission", "icu_discharge"):
            raise DataError("required: the code that marks it", path=path, field=kind)
    for kind in LIST_KINDS:
        entries = raw.get(kind) or []
        if not isinstance(entries, list):
            raise DataError("expected a list of rules", path=path, field=kind)
        rules = []
        for i, entry in enumerate(entries):
            rule = _rule(entry, path, f"{kind}[{i}]")
            _check_fields(kind, rule, path, f"{kind}[{i}]")
            rules.append(rule)
        args[kind] = tuple(rules)
    for key in (*_ID_KEYS, "unknown_unit"):
        if raw.get(key) is not None:
            args[key] = str(raw[key])
    return MedsMapping(**args)


def packaged_mapping(name: str) -> Path:
    """Path of a mapping shipped with realm (``realm_export``)."""
    path = Path(__file__).with_name("mappings") / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise DataError(f"no packaged MEDS mapping {name!r} (have {shipped})", path=path)
    return path
