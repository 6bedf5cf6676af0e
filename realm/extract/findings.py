"""Time-series findings: labs and vitals beyond a threshold become lab-finding entities.

A potassium of 6.1 mmol/L at hour 3 is as much a finding as "hyperkalemia" in a note; the
rules table (``kg/lab_findings.csv``, loaded by the wiring layer) says which node it is.
For every stay and rule that fires within the window, one row in the mentions-table format
(realm.extract.mentions_table) with ``extractor="timeseries"``, assertion present,
``link_score`` 1.0 and no note, plus what a clinician would ask: the first abnormal hour
(``hours``), the worst value, how many measurements were abnormal out of how many, the
last abnormal hour, and the last measured value of the variable (abnormal or not: has the
finding resolved by the prediction time?).

Rules arrive as data (any objects with variable, direction, threshold, unit, node_id,
node_name), because extraction comes before the KG stage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from realm.errors import ConfigError, DataError
from realm.extract.mentions_table import conform_mentions

__all__ = ["FindingRule", "LabRule", "timeseries_findings", "FINDING_COLUMNS"]

#: Columns added after the mention columns.
FINDING_COLUMNS = ("variable", "direction", "threshold", "unit", "worst_value", "n_abnormal", "n_measured",
                   "last_hour", "last_value")


class FindingRule(Protocol):
    """What a lab-finding rule must offer (realm.kg.findings_table.LabFindingRule does)."""

    variable: str
    direction: str
    threshold: float
    unit: str
    node_id: str
    node_name: str


@dataclass(frozen=True)
class LabRule:
    """A lab-finding rule for callers without the KG stage (tests, custom tables)."""

    variable: str
    direction: str  # "high": value > threshold; "low": value < threshold
    threshold: float
    unit: str
    node_id: str
    node_name: str


def _empty() -> pd.DataFrame:
    frame = conform_mentions(pd.DataFrame())
    for col in FINDING_COLUMNS:
        frame[col] = pd.Series(dtype="float64" if col in ("threshold", "worst_value", "last_hour", "last_value") else
                               "int64" if col.startswith("n_") else "string")
    return frame


def timeseries_findings(
    events: pd.DataFrame,
    rules: Iterable[FindingRule],
    *,
    window_hours: float = 48.0,
) -> pd.DataFrame:
    """One row per (stay, rule) that fires on the events at or before ``window_hours``."""
    rules = list(rules)
    for rule in rules:
        if rule.direction not in ("high", "low"):
            raise ConfigError(f"lab-finding rule for {rule.variable!r}: direction {rule.direction!r} is not high or low")
    missing = [c for c in ("stay_id", "hours", "variable", "value") if c not in events.columns]
    if missing:
        raise DataError(f"events table lacks columns {missing}", field=missing[0])
    if not rules or events.empty:
        return _empty()
    # a cohort holds only the window already; the cut here keeps the contract for any table
    window = events[(events["hours"].astype("float64") <= window_hours) & events["value"].notna()]
    window = window.assign(hours=window["hours"].astype("float64"), value=window["value"].astype("float64"))
    # stable sort by time: "last" is the latest measurement (file order breaks ties)
    window = window.sort_values(["stay_id", "hours"], kind="stable")
    by_variable = {str(k): g for k, g in window.groupby("variable", sort=False)}
    parts = []
    for rule in rules:
        rows = by_variable.get(rule.variable)
        if rows is None:
            continue
        abnormal = rows["value"] > rule.threshold if rule.direction == "high" else rows["value"] < rule.threshold
        per_stay = rows.groupby("stay_id")
        measured = per_stay.size().rename("n_measured")
        last = per_stay["value"].last().rename("last_value")
        hits = rows[abnormal]
        if hits.empty:
            continue
        worst = "max" if rule.direction == "high" else "min"
        agg = hits.groupby("stay_id").agg(hours=("hours", "min"), worst_value=("value", worst),
                                          n_abnormal=("value", "size"), last_hour=("hours", "max"))
        agg = agg.join(measured).join(last).reset_index()
        agg = agg.assign(
            note_id=None, text=rule.node_name, spans=json.dumps([]), type="lab_finding", assertion="present",
            section=None, extractor="timeseries", confidence=1.0, node_id=rule.node_id, link_score=1.0,
            variable=rule.variable, direction=rule.direction, threshold=float(rule.threshold), unit=rule.unit,
        )
        parts.append(agg)
    if not parts:
        return _empty()
    out = conform_mentions(pd.concat(parts, ignore_index=True))
    for col in ("variable", "direction", "unit"):
        out[col] = out[col].astype("string")
    for col in ("n_abnormal", "n_measured"):
        out[col] = out[col].astype("int64")
    return out.sort_values(["stay_id", "hours", "node_id", "variable"], kind="stable").reset_index(drop=True)
