"""The synthetic hospital's population: subjects, admissions, ICU stays and their outcomes.

Each subject gets a split (train/val/test), a sex, an age and chronic conditions that persist
across their admissions; each ICU stay adds acute conditions and a latent severity. The true
risks follow the latent model documented in ``SYNTH_README.md``::

    logit P(death)  = b0 + b_sev * severity + sum_{active categories} w_cat + b_age * (age - 65) / 10
    logit P(readm.) = c0 + c_sev * severity + sum_{active categories} v_cat + c_age * (age - 65) / 10

Outcomes are Bernoulli draws from them. A subject's admissions form a chain: death ends it; a
30-day readmission puts the next admission (or a ward-only admission, or a death) within 30
days of discharge, and its absence puts every later event more than 30 days away.
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

__all__ = ["SynthPopulation", "load_model_params", "simulate_population"]

_DAY = np.timedelta64(86400, "s")
_HOUR = np.timedelta64(3600, "s")
_CAREUNITS = ("MICU", "SICU", "CCU", "CSRU", "TSICU")
_CAREUNIT_P = (0.40, 0.17, 0.15, 0.15, 0.13)


@lru_cache(maxsize=1)
def load_model_params() -> dict[str, Any]:
    """The latent-model and population parameters from ``synth_model.yaml``."""
    path = resource_path("synth_model.yaml")
    params = yaml.safe_load(path.read_text())
    for section in ("mortality", "readmission", "population", "stay", "readmit"):
        if section not in params:
            raise DataError("missing section", path=path, field=section)
    return params


@dataclass
class SynthPopulation:
    """Everything about the population that the event, note and file writers need."""

    stays: pd.DataFrame  # one row per ICU stay, with latent variables and outcomes
    wards: pd.DataFrame  # ward-only admissions (no ICU stay): subject_id, admittime, dischtime
    subjects: pd.DataFrame  # subject_id, male, dob, dod, dod_hosp, split
    conditions: pd.DataFrame  # icustay_id, concept_id, category_id (active conditions only)
    extra: dict[str, Any] = field(default_factory=dict)


def _logit_parts(cats: list[str], vocab: SynthVocab, task: str) -> float:
    attr = "w_mortality" if task == "mortality" else "w_readmission"
    return float(sum(getattr(vocab.categories[c], attr) for c in cats))


def _age_term(age: float, per_decade: float) -> float:
    return per_decade * (age - 65.0) / 10.0


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _pick_code(vocab: SynthVocab, category: str, split: str, rng: np.random.Generator) -> str:
    options = vocab.codes_of(category, split)
    return options[int(rng.integers(len(options)))].id


def _uniform_days(rng: np.random.Generator, bounds: list[float]) -> np.timedelta64:
    return np.timedelta64(int(rng.uniform(bounds[0], bounds[1]) * 86400), "s")


def _date(ts: np.datetime64) -> np.datetime64:
    return ts.astype("datetime64[D]").astype("datetime64[s]")


def simulate_population(n_stays: int, vocab: SynthVocab, rng: np.random.Generator) -> SynthPopulation:
    """Simulate subjects one admission chain at a time until ``n_stays`` ICU stays exist."""
    p = load_model_params()
    pop, st, ra = p["population"], p["stay"], p["readmit"]
    m, r = p["mortality"], p["readmission"]
    splits = list(pop["split"])
    split_p = np.array([pop["split"][s] for s in splits], dtype=float)
    chain_p = np.array(pop["icu_admissions"], dtype=float)
    chronic = [c for c in vocab.categories.values() if c.kind == "chronic" and c.prevalence > 0]
    acute = [c for c in vocab.categories.values() if c.kind == "acute" and c.prevalence > 0]

    stays: list[dict[str, Any]] = []
    wards: list[dict[str, Any]] = []
    subjects: list[dict[str, Any]] = []
    conditions: list[tuple[int, str, str]] = []
    subject_no = 0
    while len(stays) < n_stays:
        subject_no += 1
        split = splits[int(rng.choice(len(splits), p=split_p / split_p.sum()))]
        male = bool(rng.random() < pop["male_fraction"])
        age0 = float(np.clip(rng.normal(pop["age_mean"], pop["age_sd"]), pop["age_min"], pop["age_max"]))
        # MIMIC shifts every subject's dates into 2100-2200; so do we.
        t = np.datetime64("2100-01-01T00:00:00") + np.timedelta64(int(rng.uniform(0, 95 * 365.25) * 86400), "s")
        first_admit = t
        own_chronic = {c.id: _pick_code(vocab, c.id, split, rng) for c in chronic if rng.random() < c.prevalence}
        chain = 1 + int(rng.choice(len(chain_p), p=chain_p / chain_p.sum()))
        dod: np.datetime64 | None = None
        dod_hosp = False
        for k in range(chain):
            if len(stays) >= n_stays:
                break
            own = dict(own_chronic)
            own.update({c.id: _pick_code(vocab, c.id, split, rng) for c in acute if rng.random() < c.prevalence})
            cats = sorted(own)
            age = age0 + float((t - first_admit) / _DAY) / 365.25
            severity = float(rng.normal())
            logit_m = (m["intercept"] + m["severity"] * severity + _logit_parts(cats, vocab, "mortality")
                       + _age_term(age, m["age_per_decade"]))
            logit_r = (r["intercept"] + r["severity"] * severity + _logit_parts(cats, vocab, "readmission")
                       + _age_term(age, r["age_per_decade"]))
            risk_m, risk_r = _sigmoid(logit_m), _sigmoid(logit_r)
            died = bool(rng.random() < risk_m)
            los_days = min(st["los_min_days"] + float(rng.lognormal(np.log(st["los_extra_median_days"]),
                                                                    st["los_extra_sigma"])), st["los_max_days"])
            admit = t
            intime = admit + np.timedelta64(int(rng.uniform(*st["ed_hours"]) * 3600), "s")
            outtime = intime + np.timedelta64(int(los_days * 86400), "s")
            ward = _uniform_days(rng, st["ward_days"])
            death: np.datetime64 | None = None
            if died:
                death = outtime if rng.random() < st["death_in_icu"] else outtime + ward
                disch = death
            else:
                disch = outtime + ward
            unit = _CAREUNITS[int(rng.choice(len(_CAREUNITS), p=_CAREUNIT_P))]
            stay_no = len(stays)
            stays.append(dict(
                stay_no=stay_no, subject_no=subject_no, split=split, male=male, age=age,
                severity=severity, risk_mortality=risk_m, risk_readmission=risk_r,
                admittime=admit, intime=intime, outtime=outtime, dischtime=disch, deathtime=death,
                died=died, readmitted=None, emergency=bool(rng.random() < 0.85), careunit=unit,
                fahrenheit=bool(rng.random() < st["fahrenheit_stays"]), chain_index=k,
            ))
            conditions.extend((stay_no, code, cat) for cat, code in own.items())
            if died:
                dod, dod_hosp = _date(death), True
                break
            readmitted = bool(rng.random() < risk_r)
            stays[-1]["readmitted"] = readmitted
            is_last = k == chain - 1 or len(stays) >= n_stays
            if not is_last:
                gap = ra["next_icu_gap_days"] if readmitted else ra["late_gap_days"]
                t = disch + _uniform_days(rng, gap)
            elif readmitted and rng.random() < ra["ward_readmission"]:
                w_admit = disch + _uniform_days(rng, ra["next_icu_gap_days"])
                wards.append(dict(subject_no=subject_no, admittime=w_admit,
                                  dischtime=w_admit + _uniform_days(rng, [2, 7])))
            elif readmitted:
                # DOD is a date (midnight): a day 2..29 after discharge lies inside (D, D + 30 d].
                dod = _date(disch) + int(rng.integers(2, 30)) * _DAY
            elif rng.random() < ra["late_death"]:
                dod = _date(disch) + int(rng.integers(35, 1500)) * _DAY
        dob = first_admit - np.timedelta64(int(age0 * 365.25 * 86400), "s")
        if age0 > 89:
            dob = dob - np.timedelta64(int(210 * 365.25 * 86400), "s")  # MIMIC's shift: ages read ~300
        subjects.append(dict(subject_no=subject_no, male=male, dob=_date(dob), dod=dod,
                             dod_hosp=dod_hosp, split=split))
    return _assign_ids(stays, wards, subjects, conditions, rng)


def _assign_ids(stays: list[dict], wards: list[dict], subjects: list[dict],
                conditions: list[tuple[int, str, str]], rng: np.random.Generator) -> SynthPopulation:
    """Give MIMIC-like ids, shuffled so that id order says nothing about time or outcome."""
    s, w, subj = pd.DataFrame(stays), pd.DataFrame(wards), pd.DataFrame(subjects)
    subject_ids = 10000 + rng.permutation(len(subj))
    subj["subject_id"] = subject_ids
    by_no = dict(zip(subj["subject_no"], subject_ids))
    s["subject_id"] = s["subject_no"].map(by_no)
    s["icustay_id"] = 200000 + rng.permutation(len(s))
    hadm = 100000 + rng.permutation(len(s) + len(w))
    s["hadm_id"] = hadm[: len(s)]
    if w.empty:
        w = pd.DataFrame(columns=["subject_no", "admittime", "dischtime"])
    w["subject_id"] = w["subject_no"].map(by_no).astype("int64")
    w["hadm_id"] = hadm[len(s):]
    cond = pd.DataFrame(conditions, columns=["stay_no", "concept_id", "category_id"])
    cond["icustay_id"] = s["icustay_id"].to_numpy()[cond["stay_no"].to_numpy()]
    cond = cond[["icustay_id", "concept_id", "category_id"]].sort_values(["icustay_id", "concept_id"])
    return SynthPopulation(stays=s, wards=w, subjects=subj, conditions=cond.reset_index(drop=True))
