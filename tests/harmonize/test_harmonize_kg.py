"""The offline KG backend and PRESCRIPTIONS -> drug mentions, on a tiny hand-made KG."""

from __future__ import annotations

import pandas as pd
import pytest
from drug_kg import tiny_drug_kg

from realm.errors import ConfigError, DataError
from realm.harmonize import UNSURE, KGBackend, custom_task, get_task, harmonize, prescriptions_to_mentions


@pytest.fixture(scope="module")
def backend() -> KGBackend:
    return KGBackend(tiny_drug_kg())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Vancomycin", "vancomycin"),
        ("Vancomycin HCl", "vancomycin"),
        ("Vancomycin Oral Liquid", "vancomycin"),
        ("Tylenol", "acetaminophen"),
        ("Oxycodone-Acetaminophen Elixir", "acetaminophen / oxycodone"),
        ("Morphine SR (MS Contin)", "morphine"),
        ("*NF* Ceftriaxone 1 g Vial", "ceftriaxone"),
        ("NS", "sodium chloride"),
        ("D5 1/2NS", "dextrose / sodium chloride"),
        ("Heparin Flush (100 units/ml)", "heparin"),
        ("Zyvox", UNSURE),
        ("Oxycodone-Zyvox", UNSURE),  # one unknown ingredient: no partial answer
        ("Vial", UNSURE),
    ],
)
def test_generic_names(backend: KGBackend, text: str, expected: str) -> None:
    assert backend.answer(text, get_task("generic_name")).value == expected


def test_routes_from_the_rule_table(backend: KGBackend) -> None:
    task = get_task("route")
    got = {r: backend.answer(r, task).value for r in ["IV DRIP", "po/ng", "IH", "PR", "BOTH  EYES", "DWELL", "XYZ"]}
    assert got == {"IV DRIP": "injectable", "po/ng": "oral", "IH": "inhalant", "PR": "rectal",
                   "BOTH  EYES": "topical", "DWELL": "other", "XYZ": UNSURE}


@pytest.mark.parametrize(
    ("task", "text", "expected"),
    [
        ("antibiotic", "Ceftriaxone", "yes"),  # is_a Cephalosporins (an anchor)
        ("antibiotic", "Metoprolol Tartrate", "no"),  # has classes, none an anchor
        ("antibiotic", "Vancomycin", UNSURE),  # no class in the KG: never a silent "no"
        ("opioid_analgesic", "Oxycodone", "yes"),  # via the codeine parent
        ("opioid_analgesic", "Oxycodone-Acetaminophen", "yes"),  # any ingredient
        ("opioid_analgesic", "Acetaminophen", "no"),
        ("anticoagulant", "Heparin Sodium", "yes"),  # the anchor itself
        ("iv_fluid", "LR", "yes"),
        ("iv_fluid", "SW", "no"),
        ("iv_fluid", "Ceftriaxone", UNSURE),  # no iv_fluid anchors: the KG cannot say
        ("electrolyte", "D5W", "no"),
        ("antibiotic", "Unknownium", UNSURE),
    ],
)
def test_binary_classes(backend: KGBackend, task: str, text: str, expected: str) -> None:
    assert backend.answer(text, get_task(task)).value == expected


def test_harmonize_keeps_input_order_and_reports_the_backend() -> None:
    out = harmonize(["Ceftriaxone", "", "Vancomycin", "Ceftriaxone"], "antibiotic", kg=tiny_drug_kg())
    assert [c.value for c in out] == ["yes", UNSURE, UNSURE, "yes"]
    assert [c.backend for c in out] == ["kg", "none", "kg", "kg"]
    assert out[0].node_id == "DRUG:ceftriaxone" and out[0].agreement == 1.0


def test_kg_backend_refuses_custom_tasks(backend: KGBackend) -> None:
    with pytest.raises(ConfigError):
        backend.answer("x", custom_task("c", "q?", ["a", "b"]))


def test_prescriptions_to_mentions_attaches_stays_and_hours() -> None:
    rx = pd.DataFrame({
        "HADM_ID": [10, 10, 20, 30],
        "ICUSTAY_ID": [None, 100, None, None],
        "STARTDATE": ["2150-01-02 00:00:00", "2150-01-01 00:00:00", "2150-02-01", "2150-03-01"],
        "DRUG": ["Oxycodone-Acetaminophen", "Zyvox", "Heparin Flush", "Vancomycin"],
    })
    stays = pd.DataFrame({"stay_id": [100, 200], "hadm_id": [10, 20],
                          "intime": pd.to_datetime(["2150-01-01 12:00", "2150-02-01 06:00"])})
    out = prescriptions_to_mentions(rx, tiny_drug_kg(), stays=stays)
    assert list(out.columns) == ["stay_id", "hadm_id", "hours", "text", "type", "assertion", "extractor",
                                 "node_id", "link_score"]
    combo = out[out["text"] == "Oxycodone-Acetaminophen"]
    assert sorted(combo["node_id"]) == ["DRUG:acetaminophen", "DRUG:oxycodone"]  # one row per ingredient
    assert set(combo["stay_id"]) == {100} and set(combo["hours"]) == {12.0}
    unknown = out[out["text"] == "Zyvox"].iloc[0]
    assert pd.isna(unknown["node_id"]) and unknown["hours"] == -12.0
    heparin = out[out["text"] == "Heparin Flush"].iloc[0]
    assert heparin["stay_id"] == 200 and heparin["hours"] == -6.0 and heparin["node_id"] == "DRUG:heparin"
    orphan = out[out["text"] == "Vancomycin"].iloc[0]  # admission without an ICU stay
    assert pd.isna(orphan["stay_id"]) and pd.isna(orphan["hours"])
    assert set(out["type"]) == {"drug"} and set(out["assertion"]) == {"present"}


def test_prescriptions_without_ids_or_drug_column_are_data_errors() -> None:
    with pytest.raises(DataError, match="DRUG"):
        prescriptions_to_mentions(pd.DataFrame({"HADM_ID": [1]}), tiny_drug_kg())
    with pytest.raises(DataError, match="HADM_ID"):
        prescriptions_to_mentions(pd.DataFrame({"DRUG": ["x"]}), tiny_drug_kg())
