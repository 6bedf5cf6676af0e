"""Time-series findings and entity sets, checked by hand on a tiny events table."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from realm.errors import ConfigError, DataError
from realm.extract.findings import LabRule, timeseries_findings
from realm.extract.mentions_table import MENTION_COLUMNS, entity_sets, mentions_frame
from realm.records import Assertion, Mention

RULES = [
    LabRule("potassium", "high", 5.5, "mmol/L", "HP:0002153", "Hyperkalemia"),
    LabRule("map", "low", 65.0, "mmHg", "HP:0002615", "Hypotension"),
    LabRule("sodium", "low", 135.0, "mmol/L", "HP:0002902", "Hyponatremia"),
]
EVENTS = pd.DataFrame({
    "stay_id": [1, 1, 1, 1, 1, 1, 2, 2],
    "hours": [2.0, 6.5, 3.0, 47.5, 49.0, 10.0, 1.0, 4.0],
    "variable": ["potassium", "potassium", "potassium", "potassium", "potassium", "map", "map", "sodium"],
    "value": [5.0, 6.2, 5.9, 5.5, 7.4, 58.0, 70.0, 140.0],
})


def test_findings_first_hour_worst_value_and_counts() -> None:
    out = timeseries_findings(EVENTS, RULES, window_hours=48.0)
    assert list(out.columns[: len(MENTION_COLUMNS)]) == list(MENTION_COLUMNS)
    rows = {(r.stay_id, r.variable): r for r in out.itertuples()}
    assert set(rows) == {(1, "potassium"), (1, "map")}  # stay 2 is normal; 5.5 is not > 5.5
    k = rows[(1, "potassium")]
    # abnormal: 5.9 at 3 h and 6.2 at 6.5 h; 7.4 at 49 h is past the window
    assert (k.hours, k.worst_value, k.n_abnormal, k.n_measured) == (3.0, 6.2, 2, 4)
    assert (k.node_id, k.text, k.type, k.assertion, k.extractor, k.link_score) == (
        "HP:0002153", "Hyperkalemia", "lab_finding", "present", "timeseries", 1.0)
    assert pd.isna(k.note_id) and json.loads(k.spans) == []
    low = rows[(1, "map")]
    assert (low.hours, low.worst_value, low.n_abnormal) == (10.0, 58.0, 1)


def test_window_is_configurable_and_empty_inputs_give_an_empty_table() -> None:
    late = timeseries_findings(EVENTS, RULES, window_hours=72.0)
    k = late[(late.stay_id == 1) & (late.variable == "potassium")].iloc[0]
    assert (k.worst_value, k.n_abnormal) == (7.4, 3)
    empty = timeseries_findings(EVENTS.iloc[0:0], RULES)
    assert empty.empty and list(empty.columns[: len(MENTION_COLUMNS)]) == list(MENTION_COLUMNS)


def test_bad_rules_and_tables_are_reported() -> None:
    with pytest.raises(ConfigError):
        timeseries_findings(EVENTS, [LabRule("potassium", "up", 5.5, "mmol/L", "HP:1", "x")])
    with pytest.raises(DataError):
        timeseries_findings(EVENTS.drop(columns="value"), RULES)


def test_entity_sets_keep_negated_and_present_apart() -> None:
    mentions = [
        Mention("pneumonia", ((0, 9),), "disease", Assertion.NEGATED, note_id="n1", stay_id=1, node_id="D:pna", link_score=0.9),
        Mention("pneumonia", ((20, 29),), "disease", Assertion.PRESENT, note_id="n2", stay_id=1, node_id="D:pna", link_score=0.8),
        Mention("pneumonia", ((40, 49),), "disease", Assertion.NEGATED, note_id="n2", stay_id=1, node_id="D:pna", link_score=0.95),
        Mention("sepsis", ((0, 6),), "disease", note_id="n3", stay_id=2),  # unlinked: left out
    ]
    table = mentions_frame(mentions, {"n1": 1.0, "n2": 12.0, "n3": 3.0})
    table = pd.concat([table, timeseries_findings(EVENTS, RULES)], ignore_index=True)
    sets = entity_sets(table)
    assert set(sets) == {1}
    s = sets[1]
    entries = list(zip(s.node_ids, s.assertions, s.counts, s.first_hours, s.link_scores))
    assert ("D:pna", Assertion.NEGATED, 2, 1.0, 0.95) in entries
    assert ("D:pna", Assertion.PRESENT, 1, 12.0, 0.8) in entries
    assert ("HP:0002153", Assertion.PRESENT, 2, 3.0, 1.0) in entries  # counts abnormal values
    assert s.first_hours == tuple(sorted(s.first_hours))
    assert len(s) == 4


def test_mentions_frame_needs_a_stay() -> None:
    with pytest.raises(DataError):
        mentions_frame([Mention("x", ((0, 1),), "disease")])
