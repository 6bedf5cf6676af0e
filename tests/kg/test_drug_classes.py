"""The ATC drug-class table (kg/drug_classes.csv) and how it joins a KG."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from realm.errors import KGError
from realm.harmonize import KGBackend, get_task
from realm.kg.graph import KnowledgeGraph
from realm.kg.sources.drug_classes import add_drug_classes, load_drug_classes
from realm.records import Node
from realm.resources import resource_path

TABLE = """# a comment line
atc_code,name,synonyms,status
A,Alimentary tract and metabolism,,draft
A12,Mineral supplements,,draft
A12B,Potassium,,draft
A12BA,Potassium,,draft
A12BA01,potassium chloride,,draft
B,Blood and blood forming organs,,draft
B05,Blood substitutes and perfusion solutions,,draft
B05X,I.V. solution additives,,draft
B05XA,Electrolyte solutions,,draft
B05XA01,potassium chloride,,draft
B05XA02,sodium bicarbonate,baking soda,draft
B05B,I.V. solutions,,draft
B05BB,Solutions affecting the electrolyte balance,,draft
B05BB01,ringer's lactate,lactated ringers,draft
B05BB01,sodium chloride,,draft
B05BB01,senna,,draft
"""


def _kg() -> KnowledgeGraph:
    kg = KnowledgeGraph("tiny")
    for node in (Node("DRUG:potassium_chloride", "Potassium Chloride", "drug", ("kcl",)),
                 Node("DRUG:nahco3", "Bicarbonate of soda", "drug", ("sodium bicarbonate",)),
                 Node("DRUG:sodium_chloride", "Sodium Chloride", "drug"),
                 Node("DRUG:senna_a", "Senna", "drug"), Node("DRUG:senna_b", "senna", "drug"),
                 Node("DRUG:metoprolol", "Metoprolol", "drug")):
        kg.add_node(node)
    return kg


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drug_classes.csv"
    path.write_text(text)
    return path


def test_table_joins_the_kg(tmp_path: Path) -> None:
    kg = _kg()
    counts = add_drug_classes(kg, _write(tmp_path, TABLE))
    assert counts["classes"] == 10 and counts["ambiguous"] == 1  # "senna" names two KG drugs
    parents = {d for r, d in kg.neighbors("DRUG:potassium_chloride") if r == "is_a"}
    assert parents == {"ATC:A12BA", "ATC:B05XA"}  # two codes, one node
    assert ("is_a", "ATC:B05XA") in kg.neighbors("DRUG:nahco3")  # found by synonym
    assert "baking soda" in kg.node("DRUG:nahco3").synonyms
    added = kg.node("DRUG:ringer_s_lactate")  # missing from the KG: added with its synonyms
    assert (added.type, added.source, added.synonyms) == ("drug", "ATC", ("lactated ringers",))
    assert ("is_a", "ATC:B05") in kg.neighbors("ATC:B05X") and kg.node("ATC:B05XA").type == "drug_class"
    assert not kg.neighbors("DRUG:senna_a") and not kg.neighbors("DRUG:metoprolol")


def test_backend_answers_from_atc_anchors(tmp_path: Path) -> None:
    kg = _kg()
    add_drug_classes(kg, _write(tmp_path, TABLE))
    backend = KGBackend(kg)
    assert backend.answer("Potassium Chloride 20 mEq", get_task("electrolyte")).value == "yes"
    assert backend.answer("Potassium Chloride 20 mEq", get_task("iv_fluid")).value == "no"
    assert backend.answer("Lactated Ringers", get_task("iv_fluid")).value == "yes"
    assert backend.answer("Metoprolol", get_task("electrolyte")).value == "unsure"  # no class at all
    # A fluid abbreviation still names its ingredient's node (so orders of NS join entity sets).
    assert backend.answer("NS", get_task("generic_name")).node_id == "DRUG:sodium_chloride"


@pytest.mark.parametrize(("line", "message"), [
    ("B05XZ99,nonsense,,draft", "parent class B05XZ"),
    ("B0,too short,,draft", "not an ATC code"),
    ("B05XA09,,,draft", "not an ATC code"),
    ("B05XA09,sodium phosphate,Sodium Phosphate,draft", "repeats the name"),
])
def test_malformed_rows_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, TABLE + line + "\n")
    with pytest.raises(KGError, match=message) as info:
        load_drug_classes(path)
    assert f":{TABLE.count(chr(10)) + 1}:" in str(info.value)


def test_shipped_table_is_well_formed_and_holds_every_atc_anchor() -> None:
    rows = load_drug_classes()
    codes = {r.code for r in rows}
    assert len([r for r in rows if r.is_substance]) > 250
    with resource_path("harmonize_class_anchors.csv").open(encoding="utf-8", newline="") as fh:
        anchors = [r["node_id"] for r in csv.DictReader(fh) if r["node_id"].startswith("ATC:")]
    assert anchors and all(a.removeprefix("ATC:") in codes for a in anchors)
    for task in ("iv_fluid", "electrolyte"):  # the two tasks MeSH gave no class to
        with resource_path("harmonize_class_anchors.csv").open(encoding="utf-8", newline="") as fh:
            assert any(r["task"] == task and r["node_id"].startswith("ATC:") for r in csv.DictReader(fh))
