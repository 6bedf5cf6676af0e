"""The synthetic hospital's notes, their planted mentions, and its prescriptions.

Notes carry the note part of the latent risk: every active condition of a stay is mentioned
(as present) in the admission note written a few hours after ICU admission, and again in
some later notes. Distractors name conditions that are NOT active: negated ("no evidence of
pneumonia"), historical ("history of sepsis, resolved"), family ("mother with breast cancer")
and hypothetical ("rule out sepsis"). Every planted mention is recorded with its character
offsets, concept id, type and assertion. Codes respect the subject's split (see
:meth:`SynthVocab.codes_of`), so held-out codes of test subjects never reach train/val notes.
Notes never state the outcome; only notes after the prediction window of stays that end in
death carry an end-of-life sentence, which the readers' window cut must remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import yaml

from realm.data.synth_vocab import SynthVocab
from realm.errors import DataError
from realm.resources import resource_path

__all__ = ["NoteSet", "write_notes", "load_templates"]

_H = np.timedelta64(3600, "s")
_COMMON_DRUGS = ("acetaminophen", "docusate", "pantoprazole", "heparin")


@lru_cache(maxsize=1)
def load_templates() -> dict[str, Any]:
    """Sentence templates from ``synth_templates.yaml``."""
    path = resource_path("synth_templates.yaml")
    data = yaml.safe_load(path.read_text())
    for key in ("condition", "finding", "drug", "relatives", "plans", "nursing_filler",
                "radiology", "radiology_negative", "dispositions_alive", "end_of_life"):
        if key not in data:
            raise DataError("missing key", path=path, field=key)
    return data


@dataclass
class _Note:
    """A note being written: its text so far and the mentions planted in it."""

    parts: list[str] = field(default_factory=list)
    length: int = 0
    mentions: list[tuple[int, int, str, str, str, str]] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def plant(self, template: str, surface: str, concept: str, ctype: str, assertion: str) -> None:
        before, after = template.split("{term}", 1)
        self.add(before)
        self.mentions.append((self.length, self.length + len(surface), surface, concept, ctype, assertion))
        self.add(surface)
        self.add(after)

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class NoteSet:
    """Notes (NOTEEVENTS rows), mentions, the stays' mentioned conditions and prescriptions."""

    notes: pd.DataFrame
    mentions: pd.DataFrame
    stay_conditions: pd.DataFrame
    prescriptions: pd.DataFrame


class _Writer:
    """Writes the notes of one stay; holds the vocabulary, templates and random stream."""

    def __init__(self, vocab: SynthVocab, rng: np.random.Generator) -> None:
        self.v, self.rng, self.t = vocab, rng, load_templates()

    def pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def surface(self, code: str) -> str:
        surfaces = self.v.codes[code].surfaces
        # The full ICD description now and then; clinicians mostly write the short forms.
        return surfaces[0] if len(surfaces) == 1 or self.rng.random() < 0.25 else self.pick(surfaces[1:])

    def condition(self, note: _Note, code: str, assertion: str, template: str = "{term}") -> None:
        tpl = template.replace("{relative}", self.pick(self.t["relatives"]))
        note.plant(tpl, self.surface(code), code, "disease", assertion)

    def finding(self, note: _Note, fid: str, assertion: str, template: str = "{term}") -> None:
        note.plant(template, self.pick(self.v.findings[fid].surfaces), fid, "phenotype", assertion)

    def drug(self, note: _Note, key: str, assertion: str, template: str = "{term}") -> None:
        d = self.v.drugs[key]
        note.plant(template, self.pick(d.surfaces), d.id, "drug", assertion)

    def distractors(self, active: set[str], split: str) -> list[tuple[str, str]]:
        """(code, assertion) pairs for inactive categories, each category used at most once."""
        cats = self.v.categories
        free = [c for c in cats.values() if c.id not in active and c.prevalence > 0]
        fam = [c for c in cats.values() if c.family_history]
        out: list[tuple[str, str]] = []
        used: set[str] = set()
        for assertion, pool, n in (("negated", free, 1 + int(self.rng.integers(2))),
                                   ("historical", [c for c in free if c.kind == "acute"], int(self.rng.integers(2))),
                                   ("family", fam, int(self.rng.integers(3))),
                                   ("hypothetical", free, int(self.rng.integers(2)))):
            for _ in range(n):
                options = [c for c in pool if c.id not in used]
                if not options:
                    break
                cat = self.pick(options)
                used.add(cat.id)
                codes = self.v.codes_of(cat.id, split)
                out.append((self.pick(codes).id, assertion))
        return out


def _fmt(ts: object) -> str:
    return pd.Timestamp(ts).floor("s").strftime("%Y-%m-%d %H:%M:%S")


def _stay_notes(w: _Writer, s: Any, active: dict[str, str]) -> tuple[list[dict], list[tuple], list[str]]:
    """Notes of one stay as rows (without ROW_ID), planted mentions, and drugs given."""
    t, rng = w.t, w.rng
    cats = w.v.categories
    chronic = [code for cat, code in active.items() if cats[cat].kind == "chronic"]
    acute = [code for cat, code in active.items() if cats[cat].kind == "acute"]
    findings = sorted({f for cat in active for f in cats[cat].findings})
    drugs = sorted({d for cat in active for d in cats[cat].drugs}) + list(_COMMON_DRUGS)
    distract = w.distractors(set(active), s.split)
    sex = "M" if s.male else "F"
    age = int(s.age) if s.age <= 89 else "> 89"
    negatable = [f for f in w.v.findings.values() if f.negatable and not f.radiology and f.id not in findings]
    rows: list[dict] = []
    planted: list[tuple] = []

    def emit(note: _Note, when: np.datetime64, category: str, description: str, charttime: bool = True) -> None:
        rows.append(dict(when=when, category=category, description=description, text=note.text,
                         charttime=charttime))
        planted.append(note.mentions)

    # Admission note: every active condition is stated here, inside the first hours.
    n = _Note()
    n.add("Chief Complaint: ")
    if findings:
        w.finding(n, w.pick(findings), "present")
    else:
        n.add("transfer for monitoring")
    n.add(f"\n\nHISTORY OF PRESENT ILLNESS:\n{age} y/o {sex} ")
    for i, code in enumerate(acute + chronic):
        n.add("with " if i == 0 else ", ")
        w.condition(n, code, "present")
    n.add(" admitted to the ICU. ")
    for fid in findings[:3]:
        w.finding(n, fid, "present", w.pick(t["finding"]["present"]).capitalize() + ". ")
    for fid in rng.permutation([f.id for f in negatable])[: 1 + int(rng.integers(2))]:
        w.finding(n, str(fid), "negated", w.pick(t["finding"]["negated"]).capitalize() + ". ")
    n.add("\n\nPAST MEDICAL HISTORY:\n")
    for code in chronic:
        n.add("- ")
        w.condition(n, code, "present")
        n.add("\n")
    for code, assertion in distract:
        if assertion == "historical":
            n.add("- ")
            w.condition(n, code, assertion, w.pick(t["condition"]["historical"]))
            n.add("\n")
    if not chronic:
        n.add("- None known\n")
    n.add("\nMEDICATIONS:\n")
    home = [d for d in drugs if d not in _COMMON_DRUGS][:4]
    for key in home:
        w.drug(n, key, "present")
        n.add("\n")
    if not home:
        n.add("None on admission\n")
    n.add("\nFAMILY HISTORY:\n")
    fam = [(c, a) for c, a in distract if a == "family"]
    for code, assertion in fam:
        w.condition(n, code, assertion, w.pick(t["condition"]["family"]).capitalize())
        n.add(".\n")
    if not fam:
        n.add("Non-contributory.\n")
    n.add("\nASSESSMENT AND PLAN:\n")
    for code in acute + chronic:
        n.add("# ")
        w.condition(n, code, "present")
        n.add(": ")
        cat_drugs = cats[w.v.codes[code].category].drugs
        if cat_drugs:
            w.drug(n, w.pick(cat_drugs), "present", w.pick(t["drug"]["present"]).capitalize() + ". ")
        n.add(w.pick(t["plans"]) + "\n")
    for code, assertion in distract:
        if assertion in ("negated", "hypothetical"):
            w.condition(n, code, assertion, w.pick(t["condition"][assertion]).capitalize() + ". ")
    emit(n, s.intime + np.timedelta64(int(rng.uniform(1, 5) * 3600), "s"), "Physician ",
         "Physician Resident Admission Note")

    los_h = float((s.outtime - s.intime) / _H)
    death_h = float((s.deathtime - s.intime) / _H) if s.died else None
    # Daily progress notes; some fall after the 48 h prediction time.
    for day in range(1, int(los_h // 24) + 1):
        hours = 24 * day + rng.uniform(6, 12)
        if hours > los_h:
            break
        n = _Note()
        n.add("24 Hour Events:\n" + w.pick(t["plans"]) + "\n\nASSESSMENT AND PLAN:\n")
        for code in acute + chronic:
            if rng.random() < 0.6:
                n.add("# ")
                w.condition(n, code, "present")
                n.add(". " + w.pick(t["plans"]) + "\n")
        if drugs and rng.random() < 0.5:
            w.drug(n, w.pick(drugs), "hypothetical", w.pick(t["drug"]["hypothetical"]).capitalize() + ".\n")
        if death_h is not None and hours > 48 and death_h - hours < 36:
            n.add(w.pick(t["end_of_life"]) + "\n")
        emit(n, s.intime + np.timedelta64(int(hours * 3600), "s"), "Physician ", "Physician Resident Progress Note")
    # Nursing notes every 12 hours.
    for hours in np.arange(rng.uniform(8, 12), los_h, 12.0):
        n = _Note()
        n.add(w.pick(t["nursing_filler"]) + " ")
        if findings and rng.random() < 0.7:
            w.finding(n, w.pick(findings), "present", w.pick(t["finding"]["present"]).capitalize() + ". ")
        if negatable:
            w.finding(n, w.pick(negatable).id, "negated", w.pick(t["finding"]["negated"]).capitalize() + ". ")
        w.drug(n, w.pick(drugs), "present", w.pick(t["drug"]["present"]).capitalize() + ". ")
        if active and rng.random() < 0.4:
            n.add("Hx ")
            w.condition(n, w.pick(list(active.values())), "present")
            n.add(". ")
        n.add(w.pick(t["nursing_filler"]))
        emit(n, s.intime + np.timedelta64(int(hours * 3600), "s"), "Nursing", "Nursing Progress Note")
    # Portable chest film on arrival.
    n = _Note()
    n.add(f"FINAL REPORT\nINDICATION: {age} year old {'man' if s.male else 'woman'}")
    lung = [c for c in acute + chronic if w.v.codes[c].category in ("ICD10CM:J18", "ICD10CM:I50", "ICD10CM:C34")]
    if lung:
        n.add(" with ")
        w.condition(n, lung[0], "present")
    n.add(", evaluate for ")
    w.finding(n, "HP:0002202", "hypothetical")
    n.add(".\n\nFINDINGS: ")
    for code in lung:
        w.condition(n, code, "present", w.pick(t["radiology"]["present"]) + " ")
    for fid in ("HP:0002107", "HP:0002202"):
        w.finding(n, fid, "negated", w.pick(t["radiology"]["negated"]) + " ")
    n.add(w.pick(t["radiology_negative"]) + "\n\nIMPRESSION: ")
    if lung:
        w.condition(n, lung[-1], "present")
        n.add(".")
    else:
        n.add("No acute cardiopulmonary process.")
    emit(n, s.intime + np.timedelta64(int(rng.uniform(0.2, 4) * 3600), "s"), "Radiology", "CHEST (PORTABLE AP)")
    # One discharge summary per admission: written at discharge, never a model input.
    n = _Note()
    n.add(f"Admission Date:  [**{str(s.admittime)[:10]}**]     Discharge Date:   [**{str(s.dischtime)[:10]}**]\n\n"
          f"Sex:   {sex}\n\nDischarge Diagnosis:\n")
    for code in acute + chronic:
        w.condition(n, code, "present")
        n.add("\n")
    disposition = "Expired" if s.died else w.pick(t["dispositions_alive"])
    n.add(f"\nDischarge Disposition:\n{disposition}\n")
    emit(n, s.dischtime, "Discharge summary", "Report", charttime=False)
    return rows, planted, drugs


def write_notes(stays: pd.DataFrame, conditions: pd.DataFrame, vocab: SynthVocab,
                rng: np.random.Generator) -> NoteSet:
    """Write every stay's notes and prescriptions; return them with the planted mentions."""
    w = _Writer(vocab, rng)
    by_stay: dict[int, dict[str, str]] = {}
    for sid, code, cat in conditions[["icustay_id", "concept_id", "category_id"]].itertuples(index=False):
        by_stay.setdefault(int(sid), {})[cat] = code
    note_rows, mention_rows, cond_rows, rx_rows = [], [], [], []
    row_id = 0
    for s in stays.itertuples(index=False):
        active = by_stay.get(int(s.icustay_id), {})
        rows, planted, drugs = _stay_notes(w, s, active)
        for row, mentions in zip(rows, planted):
            row_id += 1
            when = row["when"]
            note_rows.append(dict(
                ROW_ID=row_id, SUBJECT_ID=s.subject_id, HADM_ID=s.hadm_id, CHARTDATE=str(when)[:10],
                CHARTTIME=_fmt(when) if row["charttime"] else None,
                STORETIME=_fmt(when + np.timedelta64(int(rng.uniform(5, 90) * 60), "s")) if row["charttime"] else None,
                CATEGORY=row["category"], DESCRIPTION=row["description"],
                CGID=int(rng.integers(14000, 21000)), ISERROR=None, TEXT=row["text"]))
            mention_rows.extend((row_id, *m) for m in mentions)
        seen = set(active.values())
        cond_rows.extend((s.icustay_id, code, vocab.codes[code].category, 1) for code in active.values())
        for m in (m for ms in planted for m in ms):
            if m[4] == "disease" and m[3] not in seen:
                seen.add(m[3])
                cond_rows.append((s.icustay_id, m[3], vocab.codes[m[3]].category, 0))
        for key in drugs:
            d = vocab.drugs[key]
            start = s.intime + np.timedelta64(int(rng.uniform(-6, 24) * 3600), "s")
            end = start + np.timedelta64(int(rng.uniform(1, 8)) * 86400, "s")
            rx_rows.append(dict(
                SUBJECT_ID=s.subject_id, HADM_ID=s.hadm_id, ICUSTAY_ID=s.icustay_id,
                STARTDATE=str(start)[:10] + " 00:00:00", ENDDATE=str(end)[:10] + " 00:00:00",
                DRUG_TYPE="MAIN", DRUG=d.name, DRUG_NAME_POE=d.name, DRUG_NAME_GENERIC=d.name,
                FORMULARY_DRUG_CD=d.formulary_cd, GSN=None, NDC="0", PROD_STRENGTH=d.prod_strength,
                DOSE_VAL_RX=d.dose, DOSE_UNIT_RX=d.dose_unit, FORM_VAL_DISP=d.form_val,
                FORM_UNIT_DISP=d.form_unit, ROUTE=d.route))
    mentions = pd.DataFrame(mention_rows, columns=["NOTE_ROW_ID", "START", "END", "TEXT", "CONCEPT_ID",
                                                   "CONCEPT_TYPE", "ASSERTION"])
    stay_conditions = pd.DataFrame(cond_rows, columns=["ICUSTAY_ID", "CONCEPT_ID", "CATEGORY_ID", "ACTIVE"])
    rx = pd.DataFrame(rx_rows)
    rx.insert(0, "ROW_ID", np.arange(1, len(rx) + 1))
    return NoteSet(pd.DataFrame(note_rows), mentions,
                   stay_conditions.sort_values(["ICUSTAY_ID", "CONCEPT_ID"]).reset_index(drop=True), rx)
