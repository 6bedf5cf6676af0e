"""``realm extract`` adds the cohort's drug orders as ``prescriptions`` mentions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from realm.cli import main
from realm.data.cohort import Cohort
from realm.extract.mentions_table import MENTION_COLUMNS, entity_sets
from tests.kg_fixtures import write_csv_kg

NODES = """id,name,type,synonyms,definition,source,xrefs
T:sepsis,Sepsis,disease,,,tiny,
DRUG:vancomycin,Vancomycin,drug,vancocin,,tiny,
DRUG:heparin,Heparin,drug,,,tiny,
DRUG:acetaminophen,Acetaminophen,drug,tylenol,,tiny,
DRUG:oxycodone,Oxycodone,drug,,,tiny,
"""
EDGES = "source,target,relation,source_vocab\n"
# (stay, hours the order is known, DRUG)
ORDERS = [
    (1, -5.0, "Heparin"),                         # before the ICU stay: kept
    (1, 10.0, "Vancomycin 1 g IV"),               # form words stripped
    (1, 20.0, "Oxycodone-Acetaminophen Elixir"),  # two ingredients, two rows
    (1, 24.0, "Mystery Drug"),                    # not in the KG: kept, unlinked
    (2, 30.0, "Tylenol"),
]


@pytest.fixture()
def cohort_and_kg(tmp_path: Path) -> tuple[Path, Path]:
    spec = write_csv_kg(tmp_path / "kg", NODES, EDGES)
    cohort = Cohort(
        stays=pd.DataFrame({"stay_id": [1, 2], "subject_id": [10, 20], "source": ["test", "test"]}),
        events=pd.DataFrame({"stay_id": [1], "hours": [1.0], "variable": ["heart_rate"], "value": [80.0]}),
        notes=pd.DataFrame({"note_id": ["n1"], "stay_id": [1], "hours": [2.0], "category": ["nursing"],
                            "text": ["Sepsis."]}),
        labels=pd.DataFrame({"stay_id": [1, 2], "mortality": [1, 0]}),
        meta={"window_hours": 48},
        medications=pd.DataFrame({"stay_id": [s for s, _, _ in ORDERS], "hours": [h for _, h, _ in ORDERS],
                                  "drug": [d for _, _, d in ORDERS], "route": ["IV"] * len(ORDERS)}),
    )
    return cohort.save(tmp_path / "cohort"), spec


def _extract(cohort_dir: Path, spec: Path, *extra: str) -> pd.DataFrame:
    code = main(["extract", "--cohort", str(cohort_dir), "--kg", str(spec), "--no-timeseries", "--no-progress",
                 *extra])
    assert code == 0
    return pd.read_parquet(cohort_dir / "mentions.parquet")


def test_drug_orders_join_the_entity_set(cohort_and_kg: tuple[Path, Path]) -> None:
    cohort_dir, spec = cohort_and_kg
    table = _extract(cohort_dir, spec)
    assert list(table.columns[: len(MENTION_COLUMNS)]) == list(MENTION_COLUMNS)
    rx = table[table["extractor"] == "prescriptions"]
    got = sorted((int(r.stay_id), float(r.hours), r.node_id if pd.notna(r.node_id) else None)
                 for r in rx.itertuples())
    assert got == sorted([(1, -5.0, "DRUG:heparin"), (1, 10.0, "DRUG:vancomycin"), (1, 20.0, "DRUG:oxycodone"),
                          (1, 20.0, "DRUG:acetaminophen"), (1, 24.0, None), (2, 30.0, "DRUG:acetaminophen")])
    assert set(rx["type"]) == {"drug"} and set(rx["assertion"]) == {"present"}
    assert rx["note_id"].isna().all()
    sets = entity_sets(table)
    assert {"DRUG:heparin", "DRUG:vancomycin", "DRUG:oxycodone", "T:sepsis"} <= set(sets[1].node_ids)
    assert sets[2].node_ids == ("DRUG:acetaminophen",)
    counts = json.loads((cohort_dir / "mentions_meta.json").read_text())["counts"]
    assert counts["prescription_mentions"] == 6 and counts["prescriptions_linked"] == 5


def test_a_shorter_window_drops_later_orders(cohort_and_kg: tuple[Path, Path]) -> None:
    cohort_dir, spec = cohort_and_kg
    table = _extract(cohort_dir, spec, "--window-hours", "12")
    rx = table[table["extractor"] == "prescriptions"]
    assert sorted(rx["node_id"]) == ["DRUG:heparin", "DRUG:vancomycin"]
    assert (rx["hours"] <= 12).all()


def test_no_prescriptions_flag(cohort_and_kg: tuple[Path, Path]) -> None:
    cohort_dir, spec = cohort_and_kg
    table = _extract(cohort_dir, spec, "--no-prescriptions")
    assert "prescriptions" not in set(table["extractor"])
    assert "prescription_mentions" not in json.loads((cohort_dir / "mentions_meta.json").read_text())["counts"]
