"""The hand-checked sample of concept joins (kg/checks/concept_joins_sample.csv): every kept
join rule holds its precision, and the sampled joins are still joins of the built KG."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from realm.kg.findings_table import kg_resource_dir
from realm.kg.joins import EVIDENCE
from realm.kg.spec import load_kg

#: kg/recipe.yaml: a join rule whose sampled precision is below this is dropped.
MIN_PRECISION = 0.98


def _sample(name: str) -> pd.DataFrame:
    return pd.read_csv(kg_resource_dir() / "checks" / name, dtype=str, keep_default_na=False)


def _precision(frame: pd.DataFrame) -> dict[str, float]:
    total = Counter(frame["evidence"])
    same = Counter(frame.loc[frame["verdict"] == "same", "evidence"])
    return {ev: same[ev] / n for ev, n in total.items()}


def test_sample_is_judged_and_every_kept_rule_is_precise() -> None:
    frame = _sample("concept_joins_sample.csv")
    assert len(frame) >= 200
    assert set(frame["verdict"]) <= {"same", "not_same"}
    assert (frame.loc[frame["verdict"] == "not_same", "reason"].str.len() > 0).all()
    assert set(frame["evidence"]) == set(EVIDENCE)  # the sample covers every kept rule, nothing else
    assert min(_precision(frame).values()) >= MIN_PRECISION, _precision(frame)


def test_dropped_rules_were_below_the_bar() -> None:
    precision = _precision(_sample("concept_joins_dropped.csv"))
    assert not set(precision) & set(EVIDENCE)
    assert max(precision.values()) < MIN_PRECISION, precision


@pytest.mark.slow
def test_sampled_joins_are_joins_of_the_built_kg() -> None:
    kg = load_kg("default", progress=False)
    frame = _sample("concept_joins_sample.csv")
    for row in frame.itertuples():
        assert kg.node(row.a_id).name == row.a_name and kg.node(row.b_id).name == row.b_name, row
        assert kg.concept_of(row.a_id) == kg.concept_of(row.b_id), row
