"""``SYNTH_README.md``: the synthetic hospital's latent model, with this database's parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from realm.data.synth_cohort import SynthPopulation
from realm.data.synth_series import load_physiology
from realm.data.synth_vocab import load_synth_vocab

__all__ = ["render_readme"]


def _auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve by ranks (ties averaged)."""
    pos, neg = label.sum(), len(label) - label.sum()
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    _, inv, counts = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[label == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _rates(pop: SynthPopulation) -> list[str]:
    s = pop.stays
    los_h = ((s["outtime"] - s["intime"]) / np.timedelta64(1, "h")).to_numpy(dtype=float)
    long = los_h >= 48
    died = s["died"].to_numpy(dtype=bool)
    alive = long & ~died
    readm = s["readmitted"].to_numpy()[alive].astype(float)
    return [
        f"- ICU stays: {len(s)}, subjects: {s['subject_id'].nunique()}, ward-only admissions: {len(pop.wards)}",
        f"- stays of at least 48 h: {long.mean():.1%}",
        f"- in-hospital mortality (stays >= 48 h): {died[long].mean():.1%}, "
        f"mean true risk {s['risk_mortality'][long].mean():.1%}, "
        f"oracle AUROC {_auroc(s['risk_mortality'].to_numpy()[long], died[long].astype(int)):.3f}",
        f"- 30-day readmission (survivors, stays >= 48 h): {readm.mean():.1%}, "
        f"mean true risk {s['risk_readmission'].to_numpy()[alive].mean():.1%}, "
        f"oracle AUROC {_auroc(s['risk_readmission'].to_numpy()[alive], readm.astype(int)):.3f}",
        f"- splits (stays): " + ", ".join(f"{k} {v}" for k, v in s["split"].value_counts().sort_index().items()),
    ]


def render_readme(pop: SynthPopulation, params: dict[str, Any], *, n_stays: int, seed: int) -> str:
    """The README text."""
    vocab = load_synth_vocab()
    m, r = params["mortality"], params["readmission"]
    cats = sorted(vocab.categories.values(), key=lambda c: -c.w_mortality)
    cat_rows = [
        f"| {c.id} | {c.name} | {c.kind} | {c.prevalence:.2f} | {c.w_mortality:+.2f} | {c.w_readmission:+.2f} "
        f"| {'yes' if c.held_out else 'no'} | "
        + ", ".join(k.id.removeprefix("ICD10CM:") for k in vocab.codes.values() if k.category == c.id and k.role == "train")
        + " | "
        + ", ".join(k.id.removeprefix("ICD10CM:") for k in vocab.codes.values() if k.category == c.id and k.role == "test")
        + " |"
        for c in cats
    ]
    phys = load_physiology()
    phys_rows = [
        f"| {p.key} | {p.itemid} | {p.table} | {p.scale} | {p.mean:g} | {p.sd_between:g} | {p.sev:+g} "
        f"| {p.sev_trend:+g} | {p.interval_h:g}-{p.interval_max_h:g} | {p.p_stay_missing:g} |"
        for p in phys.itertuples() if p.kind not in ("derived", "temp_f")
    ]
    return "\n".join([
        "# The synthetic hospital",
        "",
        f"Written by `realm data synth --n-stays {n_stays} --seed {seed}` "
        "(`realm.data.synth.write_synthetic_hospital`). A MIMIC-III v1.4-format database: the same",
        "upper-case CSV tables and column names, read by `realm.data.readers.mimic.read_mimic` with the `mimic3` layout.",
        "Nothing here describes a real patient.",
        "",
        "## Latent risk model",
        "",
        "Each ICU stay *i* has a latent severity `s_i ~ N(0, 1)`, an age `a_i` and a set `C_i` of",
        "ACTIVE conditions (asserted present in its notes; negated, historical, family and",
        "hypothetical mentions are not active). With `cat(c)` the ICD-10-CM category of code `c`:",
        "",
        "```",
        "logit P(in-hospital death)  = b0 + b_sev * s_i + sum_{c in C_i} w_mort[cat(c)] + b_age * (a_i - 65) / 10",
        "logit P(30-day readmission) = c0 + c_sev * s_i + sum_{c in C_i} w_readm[cat(c)] + c_age * (a_i - 65) / 10",
        "```",
        "",
        f"b0 = {m['intercept']}, b_sev = {m['severity']}, b_age = {m['age_per_decade']}; "
        f"c0 = {r['intercept']}, c_sev = {r['severity']}, c_age = {r['age_per_decade']}.",
        "",
        "Outcomes are Bernoulli draws from these probabilities (readmission only for survivors: its",
        "risk is the probability given survival). `TRUE_RISK.csv` holds both probabilities per stay,",
        "so the oracle AUROC is known.",
        "",
        "- **Time-series part** (`s_i`): visible ONLY in CHARTEVENTS/LABEVENTS. Every variable is",
        "  `mean + sd_between*z + (sev + sev_trend*min(t,72h)/24h)*s_i + male_shift*male + AR(1) noise`",
        "  (log scale for skewed labs): tachycardia, hypotension, tachypnea, desaturation, rising",
        "  creatinine and lactate, falling GCS, platelets and bicarbonate. Conditions do not move",
        "  the time series.",
        "- **Note part** (`sum w[cat(c)]`): visible ONLY through the notes (and, as in MIMIC, the",
        "  discharge-time DIAGNOSES_ICD, the ADMISSIONS.DIAGNOSIS text and the PRESCRIPTIONS that",
        "  follow from the conditions). Conditions sharing a category share its weight.",
        "- **Age**: through PATIENTS.DOB (subjects over 89 have MIMIC's shifted DOB, ages ~300;",
        "  the risk uses the true age).",
        "",
        "## Held-out codes (the knowledge-graph test)",
        "",
        "For categories marked held-out, the codes are partitioned: train and val subjects' notes",
        "mention only the *train* codes, test subjects' notes only the *test* codes — same category,",
        "same weight. Only a model that knows the ICD-10-CM hierarchy can carry a category's risk",
        "to codes it never saw in training. The split is per subject (`TRUE_RISK.SPLIT`).",
        "",
        "| category | name | kind | prevalence | w_mort | w_readm | held out | train codes | test codes |",
        "|---|---|---|---|---|---|---|---|---|",
        *cat_rows,
        "",
        "## Physiology (`realm/resources/synth_physiology.csv`)",
        "",
        "| variable | itemid | table | scale | mean | sd_between | sev | sev_trend/day | interval h | P(absent) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *phys_rows,
        "",
        "## Admissions, notes and labels",
        "",
        "- One ICU stay per admission, no transfers; ICU stays last 1-10 days (some under 48 h).",
        "- A subject's admissions form a chain; death ends it. A 30-day readmission places the next",
        "  admission (an ICU stay, a ward-only admission, or a death via PATIENTS.DOD) within 30 days",
        "  of discharge; without one, every later event is more than 30 days away.",
        "- Notes: an admission note (all active conditions) within 5 h of ICU admission, daily",
        "  progress notes, nursing notes every 12 h, a portable chest film, and one discharge summary",
        "  per admission (CHARTDATE only, CATEGORY 'Discharge summary'; readers must drop it).",
        "  Notes after the 48 h prediction time of stays that end in death mention comfort measures;",
        "  notes never state the outcome otherwise.",
        "- `NOTE_MENTIONS.csv`: every planted mention, `TEXT == NOTEEVENTS.TEXT[START:END]`.",
        "- `STAY_CONDITIONS.csv`: each stay's mentioned condition codes, ACTIVE = 1 for active ones.",
        "",
        "## This database",
        "",
        *_rates(pop),
        "",
    ])
