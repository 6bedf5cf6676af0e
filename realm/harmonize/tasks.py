"""Harmonization tasks: what question is asked of a raw EHR string, and which answers count.

A task is a declared answer space plus its prompt text and worked examples (shots):

- ``generic_name``: open vocabulary; the answer is a lower-case generic name, combination
  products as their ingredients sorted and joined by `` / `` (:func:`normalize_generic`).
- ``route``: a ROUTE string -> one of :data:`ROUTE_CLASSES`.
- six binary drug classes (:data:`BINARY_TASKS`): a DRUG string -> ``yes`` / ``no``.
- :func:`custom_task`: user-given classes, question and shots.

Every task also accepts the abstention :data:`UNSURE`. Built-in shots live in
``realm/resources/harmonize_shots.csv`` (reviewable; their strings are not taken from the
MIMIC-III demo evaluation file, so few-shot prompts never leak test items).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from realm.cache import config_hash
from realm.errors import ConfigError, DataError
from realm.resources import read_rule_table, resource_path

__all__ = [
    "UNSURE",
    "ROUTE_CLASSES",
    "BINARY_TASKS",
    "BUILTIN_TASKS",
    "Shot",
    "HarmonizeTask",
    "get_task",
    "custom_task",
    "read_shots",
    "normalize_generic",
]

#: The abstention every task accepts: a backend that does not know says so.
UNSURE = "unsure"
ROUTE_CLASSES = ("injectable", "oral", "rectal", "inhalant", "topical", "other")
#: binary task name -> what a "yes" means (shown to the LLM and to reviewers)
BINARY_TASKS: dict[str, str] = {
    "antibiotic": "an antibacterial agent (systemic or topical; antifungals, antivirals and antiseptics are not)",
    "iv_fluid": "an intravenous crystalloid or colloid solution given as volume or carrier (not flushes, irrigation, concentrates or parenteral nutrition)",
    "electrolyte": "given to replace or correct an electrolyte (potassium, sodium, magnesium, calcium, phosphate, bicarbonate)",
    "opioid_analgesic": "an opioid agonist (alone or in a combination product); opioid antagonists are not",
    "anticoagulant": "an anticoagulant (heparins, vitamin K antagonists, factor Xa/thrombin inhibitors, citrate locks); antiplatelets and thrombolytics are not",
    "stress_ulcer_prophylaxis": "a drug used for stress-ulcer prophylaxis (proton pump inhibitor, H2 antagonist, sucralfate); antacids are not",
}
_YES_NO_SYNONYMS = {"y": "yes", "true": "yes", "1": "yes", "positive": "yes", "n": "no", "false": "no", "0": "no", "negative": "no"}
_ROUTE_SYNONYMS = {
    "intravenous": "injectable", "iv": "injectable", "injection": "injectable", "injected": "injectable",
    "parenteral": "injectable", "subcutaneous": "injectable", "intramuscular": "injectable",
    "po": "oral", "by mouth": "oral", "enteral": "oral", "sublingual": "oral",
    "pr": "rectal", "per rectum": "rectal",
    "inhaled": "inhalant", "inhalation": "inhalant", "nebulized": "inhalant", "inhaler": "inhalant",
    "ophthalmic": "topical", "transdermal": "topical", "dermal": "topical", "cutaneous": "topical",
    "nasal": "topical", "otic": "topical",
}
_SHOTS_FILE = "harmonize_shots.csv"


@dataclass(frozen=True)
class Shot:
    """One worked example: an input string and its correct answer."""

    text: str
    answer: str


@dataclass(frozen=True)
class HarmonizeTask:
    """A question asked of one raw string. ``classes`` empty means an open vocabulary."""

    name: str
    question: str
    field: str  # the EHR column the strings come from ("DRUG", "ROUTE"), shown in prompts
    classes: tuple[str, ...] = ()
    synonyms: Mapping[str, str] = field(default_factory=dict)
    shots: tuple[Shot, ...] = ()
    positive: str | None = None  # the positive class of a binary task

    def __post_init__(self) -> None:
        if not self.name or not self.question:
            raise ConfigError("a harmonization task needs a name and a question")
        if UNSURE in self.classes:
            raise ConfigError(f"task {self.name!r}: {UNSURE!r} is implicit, not a class")
        for shot in self.shots:
            if self.classes and shot.answer not in (*self.classes, UNSURE):
                raise ConfigError(f"task {self.name!r}: shot answer {shot.answer!r} is not one of {list(self.classes)}")

    @property
    def is_open(self) -> bool:
        """True for an open-vocabulary task (generic names)."""
        return not self.classes

    @property
    def shots_hash(self) -> str:
        """A digest of the shots (cache keys change when the examples do)."""
        return config_hash([(s.text, s.answer) for s in self.shots])

    def with_shots(self, shots: Sequence[Shot], n: int | None = None) -> HarmonizeTask:
        """A copy holding ``shots`` (user-supplied first, then built-in), cut to ``n``."""
        merged = list(shots) + [s for s in self.shots if s.text not in {x.text for x in shots}]
        if n is not None:
            if not 0 <= n <= 10:
                raise ConfigError(f"--shots must be between 0 and 10, got {n}")
            merged = merged[:n]
        return HarmonizeTask(self.name, self.question, self.field, self.classes, self.synonyms, tuple(merged), self.positive)


def normalize_generic(name: str) -> str:
    """Canonical form of a generic name: lower case, single spaces, ingredients sorted.

    ``"Oxycodone-Acetaminophen"`` and ``"acetaminophen / oxycodone"`` both become
    ``"acetaminophen / oxycodone"`` so combination products compare regardless of order.
    Only `` / ``, ``+`` and `` and `` split ingredients: a hyphen is part of many names.
    """
    text = re.sub(r"\s+", " ", name.strip().lower())
    parts = [p.strip(" .,;") for p in re.split(r"\s*/\s*|\s*\+\s*|\s+and\s+|\s+with\s+", text)]
    parts = sorted({p for p in parts if p})
    return " / ".join(parts)


def read_shots(path: str | Path, task: str | None = None) -> list[Shot]:
    """Shots from a CSV with columns ``text,answer`` (and optionally ``task`` to filter on)."""
    out: list[Shot] = []
    for row in read_rule_table(path, ("text", "answer")):
        if task is not None and "task" in row.values and row.get("task") != task:
            continue
        if not row.get("text") or not row.get("answer"):
            raise DataError("empty text or answer", path=row.path, row=row.line)
        out.append(Shot(row.get("text"), row.get("answer")))
    return out


def _builtin(name: str) -> HarmonizeTask:
    shots = tuple(read_shots(resource_path(_SHOTS_FILE), task=name))
    if name == "generic_name":
        shots = tuple(Shot(s.text, normalize_generic(s.answer)) for s in shots)
        return HarmonizeTask(name, "Give the generic (INN/USAN) name of the active ingredient(s) of this "
                             "medication string, without salt, strength or form; list the ingredients "
                             "of a combination product separated by ' / '.", "DRUG", shots=shots)
    if name == "route":
        return HarmonizeTask(name, "Classify this medication route string into a route class.", "ROUTE",
                             ROUTE_CLASSES, _ROUTE_SYNONYMS, shots)
    if name in BINARY_TASKS:
        return HarmonizeTask(name, f"Is this medication {BINARY_TASKS[name]}?", "DRUG", ("yes", "no"),
                             _YES_NO_SYNONYMS, shots, positive="yes")
    raise ConfigError(f"unknown harmonization task {name!r}; choose from {list(BUILTIN_TASKS)} or define a custom task")


#: every built-in task name, in report order
BUILTIN_TASKS: tuple[str, ...] = ("generic_name", "route", *BINARY_TASKS)


def get_task(name: str) -> HarmonizeTask:
    """The built-in task ``name`` with its built-in shots (:class:`ConfigError` if unknown)."""
    return _builtin(name)


def custom_task(
    name: str,
    question: str,
    classes: Iterable[str],
    shots: Iterable[Shot | tuple[str, str]] = (),
    *,
    field: str = "TEXT",
    synonyms: Mapping[str, str] | None = None,
) -> HarmonizeTask:
    """A user-defined closed-set task; class names are compared case-insensitively."""
    labels = tuple(dict.fromkeys(c.strip().lower() for c in classes if c.strip()))
    if len(labels) < 2:
        raise ConfigError(f"custom task {name!r} needs at least two classes, got {list(labels)}")
    made = tuple(s if isinstance(s, Shot) else Shot(s[0], s[1].strip().lower()) for s in shots)
    made = tuple(Shot(s.text, s.answer.strip().lower()) for s in made)
    positive = "yes" if set(labels) == {"yes", "no"} else None
    syn = {k.lower(): v.lower() for k, v in (synonyms or {}).items()}
    if positive:
        syn = {**_YES_NO_SYNONYMS, **syn}
    return HarmonizeTask(name, question, field, labels, syn, made, positive)
