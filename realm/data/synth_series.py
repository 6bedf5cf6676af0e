"""The synthetic hospital's time series: CHARTEVENTS and LABEVENTS rows, vectorized.

Every variable follows one equation per row (stay ``i``, hours ``t`` since ICU admission)::

    latent = mean + sd_between * z_i + (sev + sev_trend * min(t, 72) / 24) * severity_i
             + male_shift * male_i + AR(1) noise (sd_noise, coefficient ar)

on the natural scale (``scale = linear``) or the log scale (``scale = log``, ``mean`` is the
median). The stay's latent severity is the only thing its time series and its risk share, so
the time series carry exactly the severity part of the risk. Parameters, itemids, sampling
intervals and missingness come from ``synth_physiology.csv``. Variables with the same timing
share one schedule per stay (vitals charted together each hour, labs drawn as one panel).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.signal import lfilter

from realm.errors import DataError
from realm.resources import resource_path

__all__ = ["load_physiology", "chart_and_lab_events", "item_dictionaries", "as_text"]

_NUMERIC = ("mean", "sd_between", "sd_noise", "ar", "sev", "sev_trend", "male_shift", "interval_h",
            "interval_max_h", "jitter_h", "start_h", "p_stay_missing", "p_row_missing", "low",
            "high", "step")
_TREND_CAP_H = 72.0  # deterioration (or recovery) stops growing after three days


@lru_cache(maxsize=1)
def load_physiology() -> pd.DataFrame:
    """The physiology table (one row per itemid), numbers parsed and checked."""
    path = resource_path("synth_physiology.csv")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("key", "itemid", "table", "kind", "label", "uom", "scale", *_NUMERIC, "labels"):
        if col not in table.columns:
            raise DataError("missing column", path=path, field=col)
    try:
        for col in _NUMERIC:
            table[col] = table[col].astype(float)
        table["itemid"] = table["itemid"].astype("int64")
    except ValueError as exc:
        raise DataError(f"not a number ({exc})", path=path) from exc
    return table.set_index("key", drop=False)


def _labels(cell: str) -> dict[int, str]:
    return {int(k): v for k, v in (part.split("=", 1) for part in cell.split(";") if part)}


def _decimals(step: float) -> int:
    return max(0, int(np.ceil(-np.log10(step) - 1e-9))) if step < 1 else 0


def _quantize(values: np.ndarray, row: pd.Series) -> np.ndarray:
    v = np.round(np.round(values / row["step"]) * row["step"], _decimals(row["step"]))
    return np.clip(v, row["low"], row["high"])  # after rounding, so no value leaves the range


def _ar1(n: int, starts: np.ndarray, phi: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance AR(1) noise over concatenated series that restart at ``starts``."""
    eps = rng.standard_normal(n)
    if n == 0 or phi == 0:
        return eps
    eps[starts] /= np.sqrt(1 - phi**2)  # each series starts from its stationary distribution
    x = lfilter([1.0], [1.0, -phi], eps)
    # Remove what the filter carried over from the previous series into this one.
    seg = np.cumsum(np.isin(np.arange(n), starts)) - 1
    pos = np.arange(n) - starts[seg]
    carry = np.where(starts > 0, x[np.maximum(starts - 1, 0)], 0.0)
    return (x - carry[seg] * phi ** (pos + 1)) * np.sqrt(1 - phi**2)


def _schedule(los_h: np.ndarray, row: pd.Series, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row stay indices and hours for one timing: every ``interval`` hours from ``start_h``."""
    n = len(los_h)
    interval = rng.uniform(row["interval_h"], row["interval_max_h"], n)
    first = row["start_h"] + rng.uniform(0, np.minimum(interval, 1.0), n)
    counts = np.maximum(np.floor((los_h - first) / interval).astype(int) + 1, 0)
    stay = np.repeat(np.arange(n), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    hours = first[stay] + k * interval[stay] + rng.uniform(-1, 1, len(stay)) * row["jitter_h"]
    return stay, np.clip(hours, row["start_h"], los_h[stay])


def _latent(row: pd.Series, stay: np.ndarray, hours: np.ndarray, stays: pd.DataFrame,
            rng: np.random.Generator) -> np.ndarray:
    severity = stays["severity"].to_numpy()[stay]
    male = stays["male"].to_numpy(dtype=float)[stay]
    z = rng.standard_normal(len(stays))[stay]
    starts = np.flatnonzero(np.r_[True, stay[1:] != stay[:-1]]) if len(stay) else np.array([], int)
    noise = _ar1(len(stay), starts, row["ar"], rng)
    centre = np.log(row["mean"]) if row["scale"] == "log" else row["mean"]
    x = (centre + row["sd_between"] * z + (row["sev"] + row["sev_trend"] * np.minimum(hours, _TREND_CAP_H) / 24)
         * severity + row["male_shift"] * male + row["sd_noise"] * noise)
    return np.exp(x) if row["scale"] == "log" else x


def as_text(num: np.ndarray) -> np.ndarray:
    """Numbers as MIMIC writes them in VALUE: shortest form, no trailing ".0"."""
    return pc.cast(pa.array(num, type=pa.float64()), pa.string()).to_numpy(zero_copy_only=False)


def _frame(row: pd.Series, stay: np.ndarray, hours: np.ndarray, num: np.ndarray,
           value: np.ndarray | None = None, itemid: np.ndarray | int | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "stay": stay, "hours": hours,
        "ITEMID": row["itemid"] if itemid is None else itemid,
        "VALUE": value if value is not None else as_text(num), "VALUENUM": num,
        "VALUEUOM": row["uom"], "table": row["table"],
    })


def _variable(row: pd.Series, sched: tuple[np.ndarray, np.ndarray], present: np.ndarray,
              stays: pd.DataFrame, table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    stay, hours = sched
    keep = present[stay] & (rng.random(len(stay)) >= row["p_row_missing"])
    kind = row["kind"]
    if kind == "temp":
        celsius = _quantize(_latent(row, stay, hours, stays, rng), row)
        fahr = stays["fahrenheit"].to_numpy()[stay]
        f_row = table[table["kind"] == "temp_f"].iloc[0]
        num = np.where(fahr, np.round(celsius * 9 / 5 + 32, 1), celsius)
        frame = _frame(row, stay, hours, num, itemid=np.where(fahr, f_row["itemid"], row["itemid"]))
        frame["VALUEUOM"] = np.where(fahr, f_row["uom"], row["uom"])
    elif kind in ("gcs", "flag"):
        latent = _latent(row, stay, hours, stays, rng)
        if kind == "flag":  # the latent is a logit
            latent = (rng.random(len(latent)) < 1 / (1 + np.exp(-latent))).astype(float)
        num = _quantize(latent, row)
        labels = _labels(row["labels"])
        lookup = np.array([labels.get(v, "") for v in range(int(row["high"]) + 1)], dtype=object)
        frame = _frame(row, stay, hours, num, value=lookup[num.astype(int)])
    else:
        frame = _frame(row, stay, hours, _quantize(_latent(row, stay, hours, stays, rng), row))
    return frame[keep]


def chart_and_lab_events(stays: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All chart and lab rows as frames with ``stay`` (row of ``stays``), ``hours`` and values."""
    table = load_physiology()
    los_h = ((stays["outtime"] - stays["intime"]) / np.timedelta64(1, "h")).to_numpy(dtype=float)
    n = len(stays)
    schedules: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    presence: dict[str, np.ndarray] = {}
    parts: list[pd.DataFrame] = []
    for key, row in table.iterrows():
        if row["kind"] == "temp_f":
            continue  # written by the "temp" row for stays charting in degrees F
        line = _line(key)
        # One draw per monitoring line, so an arterial line gives systolic, diastolic and mean.
        if line not in presence:
            presence[line] = rng.random(n) >= row["p_stay_missing"]
        if row["kind"] == "static":
            when = rng.uniform(0, 1.0, n)
            value = _quantize(row["mean"] + row["male_shift"] * stays["male"].to_numpy(dtype=float)
                              + row["sd_between"] * rng.standard_normal(n), row)
            parts.append(_frame(row, np.arange(n), when, value)[presence[line]])
            continue
        timing = (row["table"], row["interval_h"], row["interval_max_h"], row["start_h"], row["jitter_h"])
        if timing not in schedules:
            schedules[timing] = _schedule(los_h, row, rng)
        if row["kind"] == "derived":
            prefix = key[: -len("map")]
            systolic, diastolic = _sources(parts, table, prefix)
            merged = systolic.merge(diastolic, on=["stay", "hours"], suffixes=("_s", "_d"))
            mean = (merged["VALUENUM_s"] + 2 * merged["VALUENUM_d"]) / 3
            num = _quantize(mean.to_numpy() + row["sd_noise"] * rng.standard_normal(len(merged)), row)
            keep = rng.random(len(merged)) >= row["p_row_missing"]
            parts.append(_frame(row, merged["stay"].to_numpy(), merged["hours"].to_numpy(), num)[keep])
            continue
        parts.append(_variable(row, schedules[timing], presence[line], stays, table, rng))
    events = pd.concat(parts, ignore_index=True)
    chart = events[events["table"] == "chartevents"].drop(columns="table")
    lab = events[events["table"] == "labevents"].drop(columns="table")
    return chart.reset_index(drop=True), lab.reset_index(drop=True)


def _line(key: str) -> str:
    """The monitoring line of a variable: "art" for sbp/dbp/map, "ni" for ni_*, else itself."""
    if key in ("sbp", "dbp", "map"):
        return "art"
    if key.startswith("ni_"):
        return "ni"
    return key


def _sources(parts: list[pd.DataFrame], table: pd.DataFrame, prefix: str) -> list[pd.DataFrame]:
    """The systolic and diastolic rows a mean pressure is computed from."""
    out = []
    for suffix in ("sbp", "dbp"):
        itemid = table.loc[prefix + suffix, "itemid"]
        frame = next(p for p in parts if len(p) and (p["ITEMID"] == itemid).all())
        out.append(frame[["stay", "hours", "VALUENUM"]])
    return out


def item_dictionaries() -> tuple[pd.DataFrame, pd.DataFrame]:
    """D_ITEMS and D_LABITEMS rows for every itemid the synthetic hospital writes, then, as
    MIMIC's dictionaries do, for the other itemids the MIMIC-III reader maps
    (``mimic3_itemids.csv``: the CareVue and MetaVision twins of each variable)."""
    table = load_physiology()
    mapped = pd.read_csv(resource_path("mimic3_itemids.csv"), comment="#").drop_duplicates("itemid")
    mapped = mapped[~mapped["itemid"].isin(table["itemid"])]
    chart = table[table["table"] == "chartevents"].reset_index(drop=True)
    text_kinds = chart["kind"].isin(["gcs", "flag"])
    d_items = pd.DataFrame({
        "ROW_ID": np.arange(1, len(chart) + 1), "ITEMID": chart["itemid"], "LABEL": chart["label"],
        "ABBREVIATION": chart["abbreviation"], "DBSOURCE": "metavision", "LINKSTO": "chartevents",
        "CATEGORY": chart["category"], "UNITNAME": chart["uom"].where(chart["uom"] != "", None),
        "PARAM_TYPE": np.where(text_kinds, "Text", "Numeric"), "CONCEPTID": None,
    })
    other = mapped[mapped["table"] == "chartevents"]
    d_items = pd.concat([d_items, pd.DataFrame({
        "ITEMID": other["itemid"].to_numpy(), "LABEL": other["label"].to_numpy(),
        "DBSOURCE": other["dbsource"].to_numpy(), "LINKSTO": "chartevents"})], ignore_index=True)
    lab = table[table["table"] == "labevents"].reset_index(drop=True)
    d_lab = pd.DataFrame({
        "ROW_ID": np.arange(1, len(lab) + 1), "ITEMID": lab["itemid"], "LABEL": lab["label"],
        "FLUID": lab["fluid"], "CATEGORY": lab["category"], "LOINC_CODE": lab["loinc"],
    })
    other = mapped[mapped["table"] == "labevents"]
    d_lab = pd.concat([d_lab, pd.DataFrame({"ITEMID": other["itemid"].to_numpy(),
                                            "LABEL": other["label"].to_numpy()})], ignore_index=True)
    return d_items, d_lab
