"""Serialize one ICU stay as text for an embedding model ("LLMs are powerful EHR encoders").

The text holds only what was known at prediction time: events, notes' linked entities and
medications recorded at or before ``prediction_hours`` (the cohort's window by default).
Two formats: ``markdown`` (headings and bullets, as in Hegselmann et al. 2025) and ``list``
(one plain line per item under a plain title; the paper found it as good, and it is shorter).

Sections in order of importance: demographics, vital signs, laboratory values, conditions and
findings, medications. When the text exceeds its token budget, routine lines (normal values,
negated findings) go first, least important section first; then whole sections, least
important first. Demographics go last.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from realm.data.cohort import Cohort
from realm.errors import ConfigError, DataError
from realm.kg.findings_table import LabFindingRule, load_lab_findings
from realm.kg.graph import KnowledgeGraph
from realm.records import Assertion, Mention
from realm.resources import Variable, load_variables

__all__ = ["serialize_stay", "Section", "build_sections", "render", "make_token_counter", "FORMATS",
           "VITAL_SIGNS"]

log = logging.getLogger(__name__)

Format = Literal["markdown", "list"]
FORMATS: tuple[str, ...] = ("markdown", "list")
TokenCounter = Callable[[str], int]

#: Bedside variables; every other variable in variables.csv is written as a laboratory value.
VITAL_SIGNS: frozenset[str] = frozenset({
    "heart_rate", "sbp", "dbp", "map", "ni_sbp", "ni_dbp", "ni_map", "resp_rate", "temperature",
    "spo2", "fio2", "weight", "height", "gcs_total", "gcs_eye", "gcs_motor", "gcs_verbal",
    "cap_refill", "mech_vent", "urine",
})
_ASSERTION_TEXT = {
    Assertion.PRESENT: "{}",
    Assertion.HISTORICAL: "history of {}",
    Assertion.HYPOTHETICAL: "possible {}",
    Assertion.FAMILY: "family history of {}",
    Assertion.NEGATED: "no {}",
}
#: Importance of a finding by assertion (higher is kept longer under a tight budget).
_ASSERTION_RANK = {Assertion.PRESENT: 4, Assertion.HISTORICAL: 3, Assertion.HYPOTHETICAL: 2,
                   Assertion.FAMILY: 1, Assertion.NEGATED: 0}


@dataclass(frozen=True)
class Section:
    """A titled block of lines; ``ranks`` orders lines for trimming (low rank goes first)."""

    title: str
    lines: tuple[str, ...]
    ranks: tuple[int, ...]
    importance: int  # sections of lower importance are trimmed before higher ones


# -- values ---------------------------------------------------------------------------------
def _number(value: float) -> str:
    return f"{value:.4g}"


def _flag(rules: list[LabFindingRule], value: float) -> str | None:
    """low/normal/high by the reference thresholds; None when the variable has no rule."""
    if not rules:
        return None
    for rule in rules:
        if rule.fires(value):
            return rule.direction
    return "normal"


def _value_text(var: Variable, value: float) -> str:
    if var.unit == "flag":
        if var.name == "cap_refill":
            return "abnormal" if value >= 0.5 else "normal"
        return "yes" if value >= 0.5 else "no"
    if var.unit in ("score", "pH", "fraction"):
        return _number(value)
    return f"{_number(value)}{'' if var.unit == '%' else ' '}{var.unit}"


def _measurement_lines(
    events: pd.DataFrame, variables: dict[str, Variable], rules: dict[str, list[LabFindingRule]]
) -> tuple[list[str], list[int], list[str], list[int]]:
    """(vital lines, ranks, lab lines, ranks): last value, flag, min and max per variable."""
    vitals: tuple[list[str], list[int]] = ([], [])
    labs: tuple[list[str], list[int]] = ([], [])
    ordered = events.sort_values(["hours"], kind="stable")
    groups = dict(tuple(ordered.groupby("variable", sort=False)))
    for name, var in variables.items():  # variables.csv order: stable and clinician-chosen
        if name not in groups:
            continue
        values = groups[name]["value"].to_numpy(dtype=float)
        last, low, high = values[-1], values.min(), values.max()
        # "Systolic blood pressure (invasive where separated)" -> the words before the aside.
        label = (var.description or name).split(" (")[0]
        if var.name == "cap_refill":  # its description names both states
            label = "Capillary refill"
        text = f"{label}: {_value_text(var, last)}"
        flag = _flag(rules.get(name, []), last)
        if flag is not None:
            text += f" ({flag})"
        if len(values) > 1 and low != high and var.unit != "flag":
            text += f", min {_number(low)}, max {_number(high)}"
        extremes = [_flag(rules.get(name, []), v) for v in (low, high)]
        rank = 1 if flag not in (None, "normal") else (0 if all(f in (None, "normal") for f in extremes) else 1)
        if var.unit == "flag" and last >= 0.5:  # ventilated, abnormal refill: never routine
            rank = 1
        target = vitals if name in VITAL_SIGNS else labs
        target[0].append(text)
        target[1].append(rank)
    return vitals[0], vitals[1], labs[0], labs[1]


# -- entities and medications ----------------------------------------------------------------
def _mentions_frame(mentions: pd.DataFrame | Iterable[Mention]) -> pd.DataFrame:
    if isinstance(mentions, pd.DataFrame):
        return mentions
    rows = [{"stay_id": m.stay_id, "note_id": m.note_id, "node_id": m.node_id, "text": m.text,
             "type": m.type, "assertion": m.assertion.value} for m in mentions]
    return pd.DataFrame(rows, columns=["stay_id", "note_id", "node_id", "text", "type", "assertion"])


def _is_drug(row: dict[str, Any], kg: KnowledgeGraph | None) -> bool:
    """Drug mentions belong with medications: by the mention's type, else its KG node's."""
    kind = row.get("type")
    if not isinstance(kind, str) or not kind:
        node_id = row.get("node_id")
        if kg is not None and isinstance(node_id, str) and kg.resolve(node_id) in kg:
            kind = kg.node(kg.resolve(node_id)).type
    return kind in ("drug", "drug_class")


def _known_mentions(mentions: pd.DataFrame, cohort: Cohort, stay_id: int, cut: float) -> pd.DataFrame:
    """This stay's mentions from notes written at or before ``cut``, with their hours."""
    if "hours" in mentions.columns:
        rows = mentions
    elif "note_id" in mentions.columns:
        # A mention's time is its note's time; notes missing from the cohort were written after
        # the cut (or never kept), so their mentions are dropped rather than risk a leak.
        notes = cohort.notes[["note_id", "stay_id", "hours"]].astype({"note_id": "string"})
        rows = mentions.drop(columns=[c for c in ("stay_id",) if c in mentions.columns and "stay_id" in notes])
        rows = rows.astype({"note_id": "string"}).merge(notes, on="note_id", how="inner")
    else:
        raise ConfigError("the mentions table needs an 'hours' or a 'note_id' column, so mentions "
                          "written after the prediction time can be left out")
    if "stay_id" not in rows.columns:
        raise ConfigError("the mentions table needs a 'stay_id' column (or 'note_id' to find it)")
    rows = rows[(rows["stay_id"] == stay_id) & (rows["hours"].astype(float) <= cut)]
    return rows


def _entity_name(row: Any, kg: KnowledgeGraph | None) -> str | None:
    node_id = row.get("node_id")
    if isinstance(node_id, str) and node_id and kg is not None:
        resolved = kg.resolve(node_id)
        if resolved in kg:
            return kg.node(resolved).name
    text = row.get("text")
    if isinstance(text, str) and text.strip():
        return " ".join(text.split())
    return node_id if isinstance(node_id, str) and node_id else None


def _condition_lines(rows: pd.DataFrame, kg: KnowledgeGraph | None) -> tuple[list[str], list[int]]:
    """One line per entity under its most recent assertion (a later note overrides an earlier)."""
    order = [c for c in ("hours", "note_id") if c in rows.columns]
    latest: dict[str, tuple[str, Assertion, float]] = {}  # key -> (name, assertion, first hours)
    for row in rows.sort_values(order, kind="stable").to_dict("records"):
        name = _entity_name(row, kg)
        if name is None:
            continue
        raw = row.get("assertion")
        try:
            assertion = Assertion(str(raw).lower() if isinstance(raw, str) and raw else "present")
        except ValueError:
            raise DataError(f"unknown assertion {raw!r}", field="mentions.assertion") from None
        key = name.lower()
        first = latest[key][2] if key in latest else float(row["hours"])
        latest[key] = (latest.get(key, (name,))[0], assertion, first)
    items = sorted(latest.items(), key=lambda kv: (-_ASSERTION_RANK[kv[1][1]], kv[1][2], kv[0]))
    lines = [_ASSERTION_TEXT[a].format(name) for _, (name, a, _) in items]
    return lines, [_ASSERTION_RANK[a] for _, (_, a, _) in items]


def _medication_lines(meds: pd.DataFrame, stay_id: int, cut: float) -> list[str]:
    """Drugs started at or before the cut, in order of first start, each once."""
    for col in ("stay_id", "hours"):
        if col not in meds.columns:
            raise ConfigError(f"the medications table needs a {col!r} column (hours since ICU "
                              "admission, so drugs started after the prediction time are left out)")
    name_col = next((c for c in ("drug", "name", "node_name") if c in meds.columns), None)
    if name_col is None:
        raise ConfigError("the medications table needs a 'drug' column")
    rows = meds[(meds["stay_id"] == stay_id) & (meds["hours"].astype(float) <= cut)]
    rows = rows.sort_values(["hours", name_col], kind="stable")
    names = [" ".join(str(n).split()) for n in rows[name_col] if isinstance(n, str) and n.strip()]
    return list(dict.fromkeys(names))


# -- assembling ---------------------------------------------------------------------------------
def _demographics(stay: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    age = stay.get("age")
    if age is not None and not pd.isna(age):
        # MIMIC shifts ages over 89 to ~300 for privacy: write what is actually known.
        lines.append("Age: 90 years or older" if age >= 90 else f"Age: {int(age)} years")
    sex = stay.get("sex")
    if isinstance(sex, str) and sex:
        lines.append(f"Sex: {dict(F='female', M='male').get(sex.upper(), sex)}")
    icu = stay.get("icu_type")
    if isinstance(icu, str) and icu:
        lines.append(f"ICU type: {icu}")
    return lines


def build_sections(
    cohort: Cohort,
    stay_id: int,
    *,
    prediction_hours: float | None = None,
    kg: KnowledgeGraph | None = None,
    mentions: pd.DataFrame | Iterable[Mention] | None = None,
    medications: pd.DataFrame | None = None,
    lab_findings: list[LabFindingRule] | None = None,
) -> list[Section]:
    """The stay's sections (empty ones left out), from data known at ``prediction_hours``."""
    cut = prediction_hours if prediction_hours is not None else cohort.meta.get("window_hours")
    if cut is None:
        raise ConfigError("no prediction time: pass prediction_hours or use a cohort whose "
                          "meta.json records window_hours")
    cut = float(cut)
    match = cohort.stays[cohort.stays["stay_id"] == stay_id]
    if match.empty:
        raise DataError(f"stay {stay_id} is not in the cohort", field="stays.stay_id")
    stay = match.iloc[0].to_dict()
    events = cohort.events[(cohort.events["stay_id"] == stay_id) & (cohort.events["hours"] <= cut)]
    variables = load_variables()
    rules: dict[str, list[LabFindingRule]] = {}
    for rule in lab_findings if lab_findings is not None else load_lab_findings():
        rules.setdefault(rule.variable, []).append(rule)
    vitals, vital_ranks, labs, lab_ranks = _measurement_lines(events, variables, rules)
    sections = [Section("Demographics", tuple(_demographics(stay)), (9,) * len(_demographics(stay)), 9),
                Section("Vital signs", tuple(vitals), tuple(vital_ranks), 4),
                Section("Laboratory values", tuple(labs), tuple(lab_ranks), 3)]
    if mentions is not None:
        rows = _known_mentions(_mentions_frame(mentions), cohort, stay_id, cut)
        drug = np.array([_is_drug(r, kg) for r in rows.to_dict("records")], dtype=bool)
        lines, ranks = _condition_lines(rows.loc[~drug], kg)
        sections.append(Section("Conditions and findings", tuple(lines), tuple(ranks), 2))
        # Drugs named in notes: given or planned, and negated ("no heparin") means not given.
        drug_lines, drug_ranks = _condition_lines(rows.loc[drug], kg)
    else:
        drug_lines, drug_ranks = [], []
    meds = _medication_lines(medications, stay_id, cut) if medications is not None else []
    known = {m.lower() for m in meds}
    extra = [(line, rank) for line, rank in zip(drug_lines, drug_ranks) if line.lower() not in known]
    sections.append(Section("Medications", tuple(meds) + tuple(line for line, _ in extra),
                            (4,) * len(meds) + tuple(rank for _, rank in extra), 1))
    return [s for s in sections if s.lines]


def render(sections: list[Section], fmt: Format, hours: float | None = None) -> str:
    """The text of ``sections`` in ``fmt``."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown serialization format {fmt!r}; choose one of {FORMATS}")
    out: list[str] = []
    if fmt == "markdown":
        when = f", first {_number(hours)} hours" if hours is not None else ""
        out.append(f"# ICU stay{when}")
        for section in sections:
            out += ["", f"## {section.title}", *(f"- {line}" for line in section.lines)]
    else:
        for section in sections:
            out += [f"{section.title}:", *section.lines]
    return "\n".join(out)


# -- token budget -------------------------------------------------------------------------------
def _whitespace_tokens(text: str) -> int:
    # Subword tokenizers split numbers, units and rare words: ~1.3 tokens per whitespace word
    # on serialized records, so the approximation errs towards keeping the text short.
    return math.ceil(1.3 * len(text.split()))


def make_token_counter(tokenizer: Any = None) -> TokenCounter:
    """A token counter from a Hugging Face / ``tokenizers`` tokenizer, a model holding one
    (``.tokenizer``), or None for the whitespace approximation."""
    if tokenizer is None:
        return _whitespace_tokens
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and not callable(getattr(tokenizer, "encode", None)):
        tokenizer = inner
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer: encode() -> Encoding
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)
    if callable(getattr(tokenizer, "encode", None)):  # transformers tokenizer: encode() -> ids
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    raise ConfigError(f"cannot count tokens with a {type(tokenizer).__name__}")


def _fit(sections: list[Section], fmt: Format, hours: float | None, budget: int,
         count: TokenCounter) -> list[Section]:
    """Drop lines, least important section and lowest rank first, until the text fits."""
    kept = [list(range(len(s.lines))) for s in sections]
    # Removal order: routine lines (rank 0: normal values, negated findings) of every section
    # first, least important section first; then the rest, section by section, low rank first.
    # Without the first pass a budget that vitals and labs fill would never show a condition.
    queue = sorted(((i, j) for i, s in enumerate(sections) for j in range(len(s.lines))),
                   key=lambda ij: (sections[ij[0]].ranks[ij[1]] > 0, sections[ij[0]].importance,
                                   -ij[0], sections[ij[0]].ranks[ij[1]], -ij[1]))

    def current() -> list[Section]:
        return [Section(s.title, tuple(s.lines[j] for j in sorted(k)), tuple(s.ranks[j] for j in sorted(k)),
                        s.importance) for s, k in zip(sections, kept) if k]

    # Estimate with per-line counts first (one tokenizer call per line, not per removal), then
    # confirm on the whole text and keep dropping if the estimate was short.
    costs = {(i, j): count(line) + 1 for i, s in enumerate(sections) for j, line in enumerate(s.lines)}
    total = count(render(sections, fmt, hours))
    position = 0
    while total > budget and position < len(queue):
        total -= costs[queue[position]]
        kept[queue[position][0]].remove(queue[position][1])
        position += 1
        if total <= budget:
            total = count(render(current(), fmt, hours))
    return current()


def serialize_stay(
    cohort: Cohort,
    stay_id: int,
    *,
    fmt: Format = "markdown",
    prediction_hours: float | None = None,
    token_budget: int | None = 512,
    kg: KnowledgeGraph | None = None,
    mentions: pd.DataFrame | Iterable[Mention] | None = None,
    medications: pd.DataFrame | None = None,
    tokenizer: Any = None,
) -> str:
    """The stay as text, from what was known ``prediction_hours`` after ICU admission.

    ``mentions``: linked entities (columns ``node_id`` and/or ``text``, ``assertion``, and
    ``hours`` or ``note_id`` to place them in time; ``stay_id`` unless ``note_id`` gives it).
    ``medications``: ``stay_id``, ``hours`` (start), ``drug``. ``tokenizer``: counts tokens
    for ``token_budget`` (see :func:`make_token_counter`); None approximates by words.
    """
    cut = prediction_hours if prediction_hours is not None else cohort.meta.get("window_hours")
    sections = build_sections(cohort, stay_id, prediction_hours=prediction_hours, kg=kg,
                              mentions=mentions, medications=medications)
    hours = float(cut) if cut is not None else None
    if token_budget is not None:
        if token_budget < 1:
            raise ConfigError(f"token_budget must be >= 1, got {token_budget}")
        sections = _fit(sections, fmt, hours, token_budget, make_token_counter(tokenizer))
    return render(sections, fmt, hours)
