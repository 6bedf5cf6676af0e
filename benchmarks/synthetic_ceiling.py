"""Achievable ceiling on the synthetic hospital of ``realm bench synthetic``.

Usage::

    python benchmarks/synthetic_ceiling.py [--n-stays 3000] [--seed 0] [--out ceiling.json]
        [--bench-json syn.json] [--n-resamples 1000]
    python benchmarks/synthetic_ceiling.py --raw HOSPITAL_DIR [--cohort COHORT_DIR] ...

How well can a model do that knows each stay's true active conditions and true age, and
estimates the latent severity from the observed 48 h series, next to the oracle (the true
risks the outcomes were drawn from)? The hospital and the prepared cohort are the ones
``realm bench synthetic --n-stays N --seed S`` uses (``realm.demo.cached_hospital`` and
``prepare_cohort``, cached under ``$REALM_CACHE`` and built there on first use), or explicit
``--raw`` (a ``realm data synth`` folder) and ``--cohort`` folders.

The true severity, age and sex of every stay come from re-simulating the population stream
(the first child of ``SeedSequence(seed)``, as ``realm.data.synth``); the re-simulated risks
and the generator's logit formula must reproduce the oracle, else a ``DataError`` is raised
(wrong ``--n-stays``/``--seed``, or a hospital written by another generator version).

Severity estimators (R^2 against the true severity; ridge and HGB cross-fitted on train):
ridge and gradient boosting on per-variable summaries of the series, the analytic GLS
posterior of the generator's linear-Gaussian model (known parameters, no fitting), ridge on
summaries plus per-variable GLS estimates, and a label-free one-factor analysis. Ceilings, as
AUROC on val and test: (a) the generator's logit with the estimated severity, (a') the GLS
posterior integrated over, (a'') (a) with the cohort's age (ages over 89 masked), (b) logistic
regression fitted on train labels with true conditions + age + estimated severity, (c) L2
logistic regression on true conditions + age + the series summaries, from the labels only.
Subject-bootstrap 95 % intervals of oracle - ceiling on test. Single-threaded; prints tables
and optionally writes the numbers as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import FactorAnalysis
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from realm.data.synth_cohort import load_model_params, simulate_population
from realm.data.synth_series import load_physiology
from realm.data.synth_vocab import load_synth_vocab
from realm.errors import ConfigError, DataError
from realm.resources import resource_path

#: task -> (synth_model.yaml section, condition weight column, oracle column, population column)
TASKS = {"mortality": ("mortality", "w_mortality", "risk_mortality", "risk_mortality"),
         "readmission_30d": ("readmission", "w_readmission", "risk_readmission_30d",
                             "risk_readmission")}
SPLITS = ("val", "test")
#: Largest |re-simulated risk - oracle| accepted (TRUE_RISK.csv keeps 6 decimals).
RISK_TOL = 1e-5
#: Left out of the GLS posterior: derived (MAPs), binary, or not driven by severity.
GLS_SKIP = {"map", "ni_map", "cap_refill", "weight", "height"}
#: Severity estimators: JSON key -> description.
ESTIMATORS = {
    "ridge": "ridge on series summaries (cross-fitted)",
    "hgb": "gradient boosting on series summaries (cross-fitted)",
    "gls": "GLS posterior mean (known generator parameters, no fitting)",
    "ridge_gls": "ridge on series summaries + per-variable GLS (cross-fitted)",
    "factor": "one-factor analysis of means and slopes (no labels, standardized)",
}
#: Regularization grid of the labels-only ceiling (c), chosen on val.
C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Seed of the folds, the estimators and the bootstrap (fixed: not the hospital's seed).
ANALYSIS_SEED = 0


@dataclass
class Hospital:
    """The prepared cohort, the true conditions and the re-simulated latent truth."""

    stays: pd.DataFrame  # index stay_id
    labels: pd.DataFrame  # index stay_id
    oracle: pd.DataFrame  # index stay_id
    events: pd.DataFrame
    meta: dict[str, Any]
    conditions: pd.DataFrame  # stay x category, 1 when active
    weights: pd.DataFrame  # synth_conditions.csv, index category_id
    truth: pd.DataFrame  # re-simulated population, index stay_id (severity, age, male, risks)

    def ids(self, split: str) -> pd.Index:
        return self.stays.index[self.stays["split"] == split]


def locate(n_stays: int, seed: int, raw: Path | None, cohort: Path | None) -> tuple[Path, Path]:
    """The hospital and cohort folders: explicit, or those ``realm bench synthetic`` uses."""
    from realm.data.prepare import prepare_cohort
    from realm.demo import cached_hospital

    if cohort is not None and raw is None:
        raise ConfigError("--cohort needs --raw (the hospital holds the true conditions)")
    raw = raw if raw is not None else cached_hospital(n_stays, seed)
    if cohort is None:
        cohort = prepare_cohort("synthetic", raw, progress=False)[1]
    for folder in (raw, cohort):
        if not Path(folder).is_dir():
            raise DataError("folder not found", path=folder)
    return Path(raw), Path(cohort)


def load(raw: Path, cohort: Path, n_stays: int, seed: int) -> Hospital:
    """Read the cohort and the active conditions; re-simulate the population for the truth."""
    stays = pd.read_parquet(cohort / "stays.parquet").set_index("stay_id")
    weights = pd.read_csv(resource_path("synth_conditions.csv")).set_index("category_id")
    sc = pd.read_csv(raw / "STAY_CONDITIONS.csv")
    sc = sc[sc.ACTIVE == 1]
    conditions = pd.crosstab(sc.ICUSTAY_ID, sc.CATEGORY_ID).reindex(stays.index, fill_value=0)
    conditions = conditions.clip(0, 1).reindex(columns=weights.index, fill_value=0)
    # No events are regenerated: only the population stream, the first of the four.
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    pop = simulate_population(n_stays, load_synth_vocab(), rngs[0]).stays
    return Hospital(
        stays=stays,
        labels=pd.read_parquet(cohort / "labels.parquet").set_index("stay_id"),
        oracle=pd.read_parquet(cohort / "oracle.parquet").set_index("stay_id"),
        events=pd.read_parquet(cohort / "events.parquet"),
        meta=json.loads((cohort / "meta.json").read_text()),
        conditions=conditions, weights=weights,
        truth=pop.set_index("icustay_id").reindex(stays.index))


def _logit(p: pd.Series) -> pd.Series:
    return np.log(p / (1 - p))


def condition_logits(h: Hospital, params: dict[str, Any]) -> dict[str, pd.Series]:
    """Per task, the generator's logit without its severity term: intercept + true
    condition weights + age (true age)."""
    age10 = (h.truth.age - 65) / 10
    return {t: params[sec]["intercept"] + h.conditions @ h.weights[w]
            + params[sec]["age_per_decade"] * age10 for t, (sec, w, _, _) in TASKS.items()}


def consistency(h: Hospital, params: dict[str, Any], cond: dict[str, pd.Series]) -> dict[str, Any]:
    """Check that the re-simulated truth is the hospital's; raise ``DataError`` if not."""
    truth, sev = h.truth, h.truth.severity.astype(float)
    checks: dict[str, Any] = {
        "n_stays": len(h.stays), "prepare_seed": h.meta["prepare"]["seed"],
        "meta_counts": h.meta["counts"],
        "stays_missing_from_population": int(truth.severity.isna().sum()),
        "pop_risk_vs_oracle_maxabs": {t: float(np.abs(truth[pc] - h.oracle[oc]).max())
                                      for t, (_, _, oc, pc) in TASKS.items()},
        "pop_split_matches": bool((truth.split == h.stays.split).all()),
        "cohort_age_vs_true_maxabs": float(np.abs(truth.age - h.stays.age).max()),
        "cohort_age_>89_masked": int((truth.age > 89).sum()),
        "sex_matches": bool(((h.stays.sex == "M") == truth.male.astype(bool)).all()),
        "formula_vs_oracle_logit_maxabs": {
            t: float(np.abs(cond[t] + params[sec]["severity"] * sev
                            - _logit(h.oracle[oc].clip(1e-6, 1 - 1e-6))).max())
            for t, (sec, _, oc, _) in TASKS.items()},
        "formula_vs_oracle_risk_maxabs": {
            t: float(np.abs(1 / (1 + np.exp(-(cond[t] + params[sec]["severity"] * sev)))
                            - h.oracle[oc]).max())
            for t, (sec, _, oc, _) in TASKS.items()},
    }
    for t in TASKS:
        for s in SPLITS:
            y = h.labels.loc[h.ids(s), t].dropna()
            checks[f"{t}_{s}_n/pos"] = [len(y), int(y.sum())]
    failed = [k for k in ("pop_risk_vs_oracle_maxabs", "formula_vs_oracle_risk_maxabs")
              if not all(np.isfinite(v) and v <= RISK_TOL for v in checks[k].values())]
    failed += [k for k in ("pop_split_matches", "sex_matches") if not checks[k]]
    failed += ["stays_missing_from_population"] if checks["stays_missing_from_population"] else []
    if failed:
        raise DataError(
            f"the re-simulated population does not reproduce the hospital ({', '.join(failed)}): "
            "wrong --n-stays/--seed, or a hospital written by another generator version",
            path=h.meta.get("source_root"))
    return checks


def generator_scale(events: pd.DataFrame, phys: pd.DataFrame, window_hours: float) -> pd.DataFrame:
    """Events of the generated variables within the window, on the generator's scale
    (``x``: log for log-scale rows, FiO2 in percent), with their physiology row (``key``)."""
    # cohort variable -> generator row (glucose merges the chart and lab rows; hco3 = bicarbonate)
    var2key = {v: v for v in events.variable.unique() if v in phys.index}
    var2key.update({"hco3": "bicarbonate", "glucose": "glucose"})
    ev = events[events.variable.isin(var2key) & (events.hours <= window_hours)].copy()
    ev["key"] = ev.variable.map(var2key)
    ev["x"] = ev.value.astype(float)
    ev.loc[ev.variable == "fio2", "x"] *= 100  # the cohort stores a fraction
    islog = ev.key.map(phys["scale"]) == "log"
    ev.loc[islog, "x"] = np.log(ev.loc[islog, "x"])
    return ev.sort_values(["stay_id", "variable", "hours"])


def series_summaries(ev: pd.DataFrame, index: pd.Index, train: pd.Index,
                     male: pd.Series) -> pd.DataFrame:
    """Per stay and variable: mean, median, last, min, max, count, least-squares slope
    (winsorized and imputed at train statistics), absence flags and sex."""
    ev = ev.assign(tx=ev.hours * ev.x, tt=ev.hours ** 2)
    grp = ev.groupby(["stay_id", "variable"])
    f = pd.concat({"mean": grp.x.mean(), "median": grp.x.median(), "last": grp.x.last(),
                   "min": grp.x.min(), "max": grp.x.max(), "count": grp.x.size()}, axis=1)
    m = grp[["hours", "x", "tx", "tt"]].mean()
    var_t = m.tt - m.hours ** 2
    f["slope"] = ((m.tx - m.hours * m.x) / var_t).where(var_t > 1.0)  # >= ~2 h spread of times
    f = f.unstack("variable")
    f.columns = [f"{v}_{s}" for s, v in f.columns]
    f = f.reindex(index)
    for c in [c for c in f.columns if c.endswith("_count")]:
        f[c] = f[c].fillna(0)
    f = f.clip(f.loc[train].quantile(0.005), f.loc[train].quantile(0.995), axis=1)
    f = f.fillna(f.loc[train].mean()).fillna(0)
    absent = pd.DataFrame({f"{v}_na": f[f"{v}_count"].eq(0).astype(float)
                           for v in sorted(ev.variable.unique())})
    return pd.concat([f, absent, male.rename("male")], axis=1)


def _gls_terms(t: np.ndarray, r: np.ndarray, row: pd.Series) -> tuple[float, float]:
    """a' S^-1 a and a' S^-1 r of one stay's series of one variable."""
    a = row["sev"] + row["sev_trend"] * np.minimum(t, 72) / 24
    step_var = row["step"] ** 2 / 12 / (1.0 if row["scale"] == "linear"
                                        else np.exp(2 * np.log(row["mean"])))
    if row["interval_h"] == row["interval_max_h"]:
        iv = row["interval_h"]
    else:
        iv = max(np.median(np.diff(t)) if len(t) > 1 else row["interval_h"], row["interval_h"])
    lag = np.abs(np.subtract.outer(t, t)) / iv
    cov = (row["sd_noise"] ** 2 * row["ar"] ** lag + row["sd_between"] ** 2 + step_var
           + 1e-9 * np.eye(len(t)))
    sa = np.linalg.solve(cov, np.c_[a, r])
    return a @ sa[:, 0], a @ sa[:, 1]


def gls_posterior(ev: pd.DataFrame, phys: pd.DataFrame, male: pd.Series,
                  index: pd.Index) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Posterior mean and variance of severity, and per-variable GLS estimates.

    Per variable, y_k = centre + male_shift*male + a(t_k)*s + sd_b*z + sd_n*AR(1); with
    s ~ N(0, 1) and everything else known the posterior of s is Gaussian: precision
    1 + sum_v a' S_v^-1 a, mean (sum_v a' S_v^-1 r_v) / precision. A linear-Gaussian
    approximation: quantization, clipping (GCS at its ceiling, SpO2 at 100), the binary
    capillary refill and the derived MAPs are left out or treated as linear; glucose merges
    two rows with different random effects (treated as one).
    """
    ev = ev[~ev.variable.isin(GLS_SKIP)]
    centre = ev.key.map(lambda k: np.log(phys.loc[k, "mean"]) if phys.loc[k, "scale"] == "log"
                        else phys.loc[k, "mean"])
    resid = ev.x - centre - ev.key.map(phys["male_shift"]) * ev.stay_id.map(male)
    rows = {v: phys.loc[k] for v, k in ev.groupby("variable").key.first().items()}
    prec, num = dict.fromkeys(index, 1.0), dict.fromkeys(index, 0.0)
    per_var = {}
    hours, r = ev.hours.to_numpy(), resid.to_numpy()
    for (sid, v), pos in ev.groupby(["stay_id", "variable"], sort=False).indices.items():
        ia, ir = _gls_terms(hours[pos], r[pos], rows[v])
        prec[sid] += ia
        num[sid] += ir
        per_var[(sid, v)] = ir / ia if ia > 0 else 0.0
    prec_s, num_s = pd.Series(prec), pd.Series(num)
    per = pd.Series(per_var).unstack().reindex(index).fillna(0).add_prefix("gls_")
    return (num_s / prec_s).reindex(index), (1 / prec_s).reindex(index), per


def crossfit(make: Callable[[], Any], z: pd.DataFrame, y: pd.Series, split: pd.Series) -> pd.Series:
    """Out-of-fold predictions on train (5 folds); the model fitted on all of train for the rest."""
    train = split.index[split == "train"]
    out = pd.Series(np.nan, index=split.index)
    z_tr, y_tr = z.loc[train], y[train]
    for a, b in KFold(5, shuffle=True, random_state=ANALYSIS_SEED).split(z_tr):
        out[train[b]] = make().fit(z_tr.iloc[a], y_tr.iloc[a]).predict(z_tr.iloc[b])
    rest = split.index[split != "train"]
    out[rest] = make().fit(z_tr, y_tr).predict(z.loc[rest])
    return out


def factor_severity(feat: pd.DataFrame, train: pd.Index) -> pd.Series:
    """Label-free estimate: severity is the only factor the variables share (each variable's
    random effect is its own), so the first factor of per-variable means and slopes, fitted on
    train without labels or severity, estimates it up to sign and scale (fixed here by the
    heart-rate slope's sign and train standardization)."""
    cols = [c for c in feat.columns if c.endswith(("_mean", "_slope"))
            and not c.startswith(("weight", "height"))]
    fa = make_pipeline(StandardScaler(), FactorAnalysis(1, random_state=ANALYSIS_SEED))
    fa.fit(feat.loc[train, cols])
    score = pd.Series(fa.transform(feat[cols])[:, 0], index=feat.index)
    score = score * np.sign(np.corrcoef(score[train], feat.loc[train, "heart_rate_slope"])[0, 1])
    return (score - score[train].mean()) / score[train].std()


def severity_estimates(feat: pd.DataFrame, gls_mean: pd.Series, gls_per_var: pd.DataFrame,
                       sev: pd.Series, split: pd.Series) -> dict[str, pd.Series]:
    """Every estimator of ``ESTIMATORS``, for every stay (train out-of-fold where fitted)."""
    def ridge() -> Any:
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 20)))

    def hgb() -> Any:
        return HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                             min_samples_leaf=20, l2_regularization=1.0,
                                             random_state=ANALYSIS_SEED)

    with_gls = pd.concat([feat, gls_per_var, gls_mean.rename("gls")], axis=1)
    return {"ridge": crossfit(ridge, feat, sev, split), "hgb": crossfit(hgb, feat, sev, split),
            "gls": gls_mean, "ridge_gls": crossfit(ridge, with_gls, sev, split),
            "factor": factor_severity(feat, split.index[split == "train"])}


def r2_table(est: dict[str, pd.Series], sev: pd.Series, h: Hospital,
             gls_var: pd.Series) -> dict[str, dict[str, float]]:
    """R^2 of each estimate against the true severity per split (train: out of fold where
    fitted), squared correlation on test; GLS also its expected R^2, 1 - mean posterior var."""
    table = {}
    for k, e in est.items():
        table[k] = {s: float(r2_score(sev[h.ids(s)], e[h.ids(s)])) for s in ("train", *SPLITS)}
        test = h.ids("test")
        table[k]["corr2_test"] = float(np.corrcoef(sev[test], e[test])[0, 1] ** 2)
    table["gls"]["expected"] = float(1 - gls_var.mean())
    return table


def _auc(h: Hospital, task: str, ids: pd.Index, score: pd.Series) -> float:
    y = h.labels.loc[ids, task]
    keep = y.notna().to_numpy()
    return float(roc_auc_score(y[keep].astype(int), np.asarray(score.loc[ids])[keep]))


def ceiling_scores(h: Hospital, params: dict[str, Any], cond: dict[str, pd.Series],
                   est: dict[str, pd.Series], feat: pd.DataFrame, gls_mean: pd.Series,
                   gls_var: pd.Series) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Per task, the scores of every ceiling for every stay, and the C chosen for (c)."""
    train, val = h.ids("train"), h.ids("val")
    age10 = (h.truth.age - 65) / 10
    base = h.conditions.assign(age=age10)
    scores: dict[str, dict[str, Any]] = {}
    chosen_c: dict[str, float] = {}
    for t, (sec, w, _, _) in TASKS.items():
        p = params[sec]
        y_tr = h.labels.loc[train, t]
        k_tr = y_tr.notna()
        s: dict[str, Any] = {"conditions_age": cond[t], "a": {}, "b": {}}
        for name, e in est.items():
            # (a) the generator's logit with the estimated severity plugged in (true weights)
            s["a"][name] = cond[t] + p["severity"] * e
            # (b) LR on true conditions + age + estimated severity (train estimate out of fold)
            z = base.assign(sev=e)
            lr = LogisticRegression(C=1.0, max_iter=5000)
            lr.fit(z.loc[train][k_tr], y_tr[k_tr].astype(int))
            s["b"][name] = pd.Series(lr.predict_proba(z)[:, 1], index=z.index)
        # (c) L2-LR on true conditions + age + the series summaries, from the labels only
        zc = pd.concat([base, feat], axis=1)
        y_va = h.labels.loc[val, t]
        k_va = y_va.notna()
        best = None
        for c in C_GRID:
            mdl = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
            mdl.fit(zc.loc[train][k_tr], y_tr[k_tr].astype(int))
            a_val = roc_auc_score(y_va[k_va].astype(int),
                                  mdl.predict_proba(zc.loc[val][k_va])[:, 1])
            if best is None or a_val > best[0]:
                best = (a_val, c, mdl)
        s["c_labels_only"] = pd.Series(best[2].predict_proba(zc)[:, 1], index=zc.index)
        chosen_c[t] = best[1]
        # (a'') as (a) with ridge_gls, but the cohort's age (ages > 89 masked, as models see it)
        s["a_cohort_age"] = (p["intercept"] + h.conditions @ h.weights[w]
                             + p["age_per_decade"] * (h.stays.age - 65) / 10
                             + p["severity"] * est["ridge_gls"])
        # (a') E[sigmoid(cond + b s)] under the GLS posterior N(m, v), probit approximation
        s["a_posterior"] = ((cond[t] + p["severity"] * gls_mean)
                            / np.sqrt(1 + np.pi * p["severity"] ** 2 * gls_var / 8))
        scores[t] = s
    return scores, chosen_c


def auroc_table(h: Hospital, scores: dict[str, dict[str, Any]],
                bench: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """AUROC of the oracle, every ceiling (and the benchmark's models) per task and split."""
    out: dict[str, dict[str, Any]] = {}
    for t, (_, _, oc, _) in TASKS.items():
        s = scores[t]
        out[t] = {}
        for split in SPLITS:
            ids = h.ids(split)
            row: dict[str, Any] = {"oracle": _auc(h, t, ids, h.oracle[oc]),
                                   "conditions_age": _auc(h, t, ids, s["conditions_age"])}
            for kind in ("a", "b"):
                row[kind] = {k: _auc(h, t, ids, v) for k, v in s[kind].items()}
            for key in ("a_posterior", "a_cohort_age", "c_labels_only"):
                row[key] = _auc(h, t, ids, s[key])
            if bench is not None and t in bench.get("auroc", {}):
                res = bench["auroc"][t]
                row["bench"] = ({m: v for m, v in res["val_auroc"].items() if m != "oracle"}
                                if split == "val" else
                                {m: v["value"] for m, v in res["test"].items() if m != "oracle"})
            out[t][split] = row
    return out


def bootstrap_diff(y: np.ndarray, a: np.ndarray, b: np.ndarray, groups: np.ndarray,
                   n_resamples: int, rng: np.random.Generator) -> dict[str, Any]:
    """AUROC(a) - AUROC(b) with a subject-bootstrap 95 % interval and the share of
    resamples with a difference <= 0 (single-class resamples skipped)."""
    uniq = np.unique(groups)
    idx = {u: np.flatnonzero(groups == u) for u in uniq}
    point = roc_auc_score(y, a) - roc_auc_score(y, b)
    d = []
    for _ in range(n_resamples):
        take = np.concatenate([idx[u] for u in rng.choice(uniq, len(uniq))])
        if y[take].min() == y[take].max():
            continue
        d.append(roc_auc_score(y[take], a[take]) - roc_auc_score(y[take], b[take]))
    diffs = np.array(d)
    return {"value": float(point),
            "ci95": [float(np.quantile(diffs, .025)), float(np.quantile(diffs, .975))],
            "p_le_0": float((diffs <= 0).mean())}


def bootstrap_gaps(h: Hospital, scores: dict[str, dict[str, Any]], best: str,
                   n_resamples: int) -> dict[str, dict[str, Any]]:
    """Oracle - ceiling on test, per task: (a) and (b) with the best estimator, (a'), (b) with
    the label-free factor, (c). One generator for all, in this order."""
    rng = np.random.default_rng(ANALYSIS_SEED)
    test = h.ids("test")
    out: dict[str, dict[str, Any]] = {}
    for t, (_, _, oc, _) in TASKS.items():
        ids = test[h.labels.loc[test, t].notna().to_numpy()]
        y = h.labels.loc[ids, t].astype(int).to_numpy()
        groups = h.stays.subject_id.loc[ids].to_numpy()
        oracle = np.asarray(h.oracle[oc].loc[ids])
        s = scores[t]
        against = {"a": s["a"][best], "a_posterior": s["a_posterior"], "b": s["b"][best],
                   "b_factor": s["b"]["factor"], "c_labels_only": s["c_labels_only"]}
        out[t] = {f"oracle_minus_{k}": bootstrap_diff(y, oracle, np.asarray(v.loc[ids]), groups,
                                                      n_resamples, rng)
                  for k, v in against.items()}
    return out


def run(raw: Path, cohort: Path, n_stays: int, seed: int, n_resamples: int,
        bench: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every measurement; returns the JSON payload."""
    started = time.perf_counter()
    h = load(raw, cohort, n_stays, seed)
    params = load_model_params()
    cond = condition_logits(h, params)
    checks = consistency(h, params, cond)
    phys = load_physiology()
    sev, male = h.truth.severity.astype(float), h.truth.male.astype(float)
    ev = generator_scale(h.events, phys, h.meta["window_hours"])
    feat = series_summaries(ev, h.stays.index, h.ids("train"), male)
    gls_mean, gls_var, gls_per_var = gls_posterior(ev, phys, male, h.stays.index)
    est = severity_estimates(feat, gls_mean, gls_per_var, sev, h.stays.split)
    r2 = r2_table(est, sev, h, gls_var)
    scores, chosen_c = ceiling_scores(h, params, cond, est, feat, gls_mean, gls_var)
    best = max(est, key=lambda k: r2[k]["val"])
    return {"benchmark": "synthetic_ceiling", "n_stays": n_stays, "seed": seed,
            "raw": str(raw), "cohort": str(cohort), "n_resamples": n_resamples,
            "n_features": int(feat.shape[1]), "checks": checks, "estimators": ESTIMATORS,
            "r2": r2, "auroc": auroc_table(h, scores, bench), "best_estimator": best,
            "c_labels_only": chosen_c,
            "bootstrap_test": bootstrap_gaps(h, scores, best, n_resamples),
            "wall_seconds": round(time.perf_counter() - started, 1)}


ROW_NAMES = {"oracle": "oracle (true risk)", "conditions_age": "true conditions + age only",
             "a_posterior": "(a') GLS posterior-integrated",
             "a_cohort_age": "(a'') ridge_gls, cohort age",
             "c_labels_only": "(c) L2-LR labels only: cond+age+series"}


def table_lines(result: dict[str, Any]) -> list[str]:
    """The checks, R^2, AUROC and bootstrap tables as text."""
    c = result["checks"]
    r2_cols = ("train", *SPLITS, "corr2_test")
    lines = [f"{c['n_stays']} stays; re-simulated risk vs oracle max |diff| "
             + ", ".join(f"{t} {v:.1e}" for t, v in c["pop_risk_vs_oracle_maxabs"].items())
             + f"; {result['n_features']} series features", "",
             f"{'severity R^2':<14}" + "".join(f"{s:>12}" for s in r2_cols)]
    for k, r in result["r2"].items():
        lines.append(f"{k:<14}" + "".join(f"{r[s]:>12.3f}" for s in r2_cols)
                     + (f"   expected {r['expected']:.3f}" if "expected" in r else ""))
    cols = [(t, s) for t in result["auroc"] for s in SPLITS]
    rows: list[tuple[str, list[float]]] = []
    first = result["auroc"][cols[0][0]][cols[0][1]]
    for key in ("oracle", "conditions_age"):
        rows.append((ROW_NAMES[key], [result["auroc"][t][s][key] for t, s in cols]))
    for kind in ("a", "b"):
        for k in first[kind]:
            rows.append((f"({kind}) {k}", [result["auroc"][t][s][kind][k] for t, s in cols]))
    for key in ("a_posterior", "a_cohort_age", "c_labels_only"):
        rows.append((ROW_NAMES[key], [result["auroc"][t][s][key] for t, s in cols]))
    for m in first.get("bench", {}):
        rows.append((f"bench: {m}", [result["auroc"][t][s].get("bench", {}).get(m, float("nan"))
                                     for t, s in cols]))
    lines += ["", f"{'AUROC':<40}" + "".join(f"{t + ' ' + s:>22}" for t, s in cols)]
    lines += [f"{name:<40}" + "".join(f"{v:>22.3f}" for v in vals) for name, vals in rows]
    lines += ["", f"best estimator by val R^2: {result['best_estimator']}; C of (c): "
              + ", ".join(f"{t} {v}" for t, v in result["c_labels_only"].items()),
              f"{'test, subject bootstrap':<40}{'task':<16}{'diff [95% CI]':>26}{'P(<=0)':>8}"]
    for t, block in result["bootstrap_test"].items():
        for k, d in block.items():
            lines.append(f"{k:<40}{t:<16}{d['value']:>+9.3f} [{d['ci95'][0]:+.3f}, "
                         f"{d['ci95'][1]:+.3f}]{d['p_le_0']:>8.3f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-stays", type=int, default=None,
                        help="stays of the hospital (default 3000, or TRUE_RISK.csv's with --raw)")
    parser.add_argument("--seed", type=int, default=0, help="the hospital's seed")
    parser.add_argument("--raw", type=Path, default=None,
                        help="a `realm data synth` folder (default: the cached one)")
    parser.add_argument("--cohort", type=Path, default=None,
                        help="its prepared cohort (default: prepared or reused from the cache)")
    parser.add_argument("--bench-json", type=Path, default=None,
                        help="a `realm bench synthetic` output: its models' AUROCs are listed too")
    parser.add_argument("--n-resamples", type=int, default=1000, help="subject-bootstrap resamples")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    n_stays = args.n_stays
    if n_stays is None:
        n_stays = 3000 if args.raw is None else len(pd.read_csv(args.raw / "TRUE_RISK.csv"))
    bench = json.loads(args.bench_json.read_text()) if args.bench_json else None
    with threadpool_limits(1):
        raw, cohort = locate(n_stays, args.seed, args.raw, args.cohort)
        result = run(raw, cohort, n_stays, args.seed, args.n_resamples, bench)
    print("\n".join(table_lines(result)))
    print(f"wall time {result['wall_seconds']} s")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
