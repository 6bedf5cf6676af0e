"""The synthetic hospital's vocabulary: condition categories and codes, findings, drugs.

Everything clinical is read from reviewable files in ``realm/resources`` (``synth_*.csv``);
this module only loads and checks them. Condition descriptions come from the ICD-10-CM
tabular list (``simple_icd_10_cm``), so notes use the real wording beside the common
abbreviations kept in ``synth_condition_codes.csv``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
import simple_icd_10_cm as icd

from realm.errors import DataError
from realm.resources import resource_path

__all__ = ["Category", "ConditionCode", "Finding", "Drug", "SynthVocab", "load_synth_vocab"]

ROLES = ("train", "test", "any")


@dataclass(frozen=True)
class Category:
    """An ICD-10-CM category and its weights in the latent risk model."""

    id: str
    name: str
    icd9: str
    kind: str  # "chronic" (persists across a subject's admissions) | "acute"
    prevalence: float
    w_mortality: float
    w_readmission: float
    held_out: bool  # child codes partitioned between train/val and test subjects
    family_history: bool
    findings: tuple[str, ...]
    drugs: tuple[str, ...]


@dataclass(frozen=True)
class ConditionCode:
    """A billable ICD-10-CM code, the split role of its notes and its surface forms."""

    id: str
    category: str
    role: str  # "train" (train/val notes only), "test" (test notes only), "any"
    description: str
    surfaces: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """An HPO phenotype that notes mention."""

    id: str
    name: str
    surfaces: tuple[str, ...]
    negatable: bool
    radiology: bool


@dataclass(frozen=True)
class Drug:
    """A drug as notes mention it and as PRESCRIPTIONS lists it."""

    key: str
    id: str
    name: str
    surfaces: tuple[str, ...]
    formulary_cd: str
    prod_strength: str
    dose: str
    dose_unit: str
    form_val: str
    form_unit: str
    route: str


@dataclass(frozen=True)
class SynthVocab:
    """All vocabulary tables, keyed by id."""

    categories: dict[str, Category]
    codes: dict[str, ConditionCode]
    findings: dict[str, Finding]
    drugs: dict[str, Drug]

    def codes_of(self, category: str, split: str) -> tuple[ConditionCode, ...]:
        """The codes whose notes may appear for a subject of ``split``."""
        wanted = ("test", "any") if split == "test" else ("train", "any")
        return tuple(c for c in self.codes.values() if c.category == category and c.role in wanted)


def _split(cell: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in str(cell).split(";") if p.strip())


def _read(name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    path = resource_path(name)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in columns:
        if col not in table.columns:
            raise DataError("missing column", path=path, field=col)
    return table


def _plain_description(text: str) -> str:
    """The ICD description as a clinician would write it: no bracketed or '(congestive)' asides."""
    text = re.sub(r"\s*\[[^\]]*\]", "", text)
    text = re.sub(r"\s*\((?:congestive|acute|mild|severe|adult|pediatric|primary)\)", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    # Lower-case the first letter unless the first word is an acronym ("STEMI", "CKD").
    first = text.split(" ", 1)[0]
    return text if first.isupper() else text[:1].lower() + text[1:]


def _categories() -> dict[str, Category]:
    cols = ("category_id", "name", "icd9", "kind", "prevalence", "w_mortality", "w_readmission",
            "held_out", "family_history", "findings", "drugs")
    table = _read("synth_conditions.csv", cols)
    out: dict[str, Category] = {}
    for i, row in table.iterrows():
        code = row["category_id"].removeprefix("ICD10CM:")
        if not (icd.is_valid_item(code) and icd.is_category(code)):
            raise DataError(f"not an ICD-10-CM category: {code!r}", path="synth_conditions.csv",
                            row=int(i) + 2, field="category_id")
        try:
            out[row["category_id"]] = Category(
                id=row["category_id"], name=row["name"], icd9=row["icd9"], kind=row["kind"],
                prevalence=float(row["prevalence"]), w_mortality=float(row["w_mortality"]),
                w_readmission=float(row["w_readmission"]), held_out=row["held_out"] == "yes",
                family_history=row["family_history"] == "yes", findings=_split(row["findings"]),
                drugs=_split(row["drugs"]),
            )
        except ValueError as exc:
            raise DataError(f"not a number ({exc})", path="synth_conditions.csv", row=int(i) + 2) from exc
    return out


def _codes(categories: dict[str, Category]) -> dict[str, ConditionCode]:
    table = _read("synth_condition_codes.csv", ("concept_id", "role", "variants"))
    out: dict[str, ConditionCode] = {}
    for i, row in table.iterrows():
        code = row["concept_id"].removeprefix("ICD10CM:")
        where = {"path": "synth_condition_codes.csv", "row": int(i) + 2}
        if not (icd.is_valid_item(code) and icd.is_leaf(code)):
            raise DataError(f"not a billable ICD-10-CM code: {code!r}", field="concept_id", **where)
        category = "ICD10CM:" + code.split(".")[0]
        if category not in categories:
            raise DataError(f"category {category} not in synth_conditions.csv", field="concept_id", **where)
        if row["role"] not in ROLES:
            raise DataError(f"role must be one of {ROLES}", field="role", **where)
        description = icd.get_description(code)
        surfaces = tuple(dict.fromkeys((_plain_description(description),) + _split(row["variants"])))
        out[row["concept_id"]] = ConditionCode(row["concept_id"], category, row["role"],
                                               description, surfaces)
    for cat in categories.values():
        roles = {c.role for c in out.values() if c.category == cat.id}
        needed = {"train", "test"} if cat.held_out else {"any"}
        if not needed <= roles or (not cat.held_out and roles != {"any"}):
            raise DataError(f"category {cat.id} needs codes with roles {sorted(needed)} only",
                            path="synth_condition_codes.csv", field="role")
    return out


def _findings() -> dict[str, Finding]:
    table = _read("synth_findings.csv", ("concept_id", "name", "variants", "negatable", "radiology"))
    return {
        r["concept_id"]: Finding(r["concept_id"], r["name"], _split(r["variants"]),
                                 r["negatable"] == "yes", r["radiology"] == "yes")
        for _, r in table.iterrows()
    }


def _drugs() -> dict[str, Drug]:
    cols = ("key", "concept_id", "name", "variants", "formulary_cd", "prod_strength", "dose",
            "dose_unit", "form_val", "form_unit", "route")
    table = _read("synth_drugs.csv", cols)
    return {
        r["key"]: Drug(r["key"], r["concept_id"], r["name"], _split(r["variants"]), r["formulary_cd"],
                       r["prod_strength"], r["dose"], r["dose_unit"], r["form_val"], r["form_unit"],
                       r["route"])
        for _, r in table.iterrows()
    }


@lru_cache(maxsize=1)
def load_synth_vocab() -> SynthVocab:
    """Read and cross-check the synthetic vocabulary (cached: the files ship with realm)."""
    categories = _categories()
    codes = _codes(categories)
    findings = _findings()
    drugs = _drugs()
    for cat in categories.values():
        for f in cat.findings:
            if f not in findings:
                raise DataError(f"{cat.id} names unknown finding {f}", path="synth_conditions.csv",
                                field="findings")
        for d in cat.drugs:
            if d not in drugs:
                raise DataError(f"{cat.id} names unknown drug {d}", path="synth_conditions.csv",
                                field="drugs")
    return SynthVocab(categories, codes, findings, drugs)
