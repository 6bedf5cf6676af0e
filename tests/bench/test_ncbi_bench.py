"""``realm bench linking-ncbi`` on a hand-made PubTator file and a five-node KG, accuracies worked
out by hand; and on the real development set where ../shared/data holds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realm.bench.ncbi.benchmark import _codes_of
from realm.cli import main
from realm.kg.graph import KnowledgeGraph
from realm.records import Node
from tests.kg_fixtures import write_csv_kg

NODES = (
    "id,name,type,synonyms,definition,source,xrefs\n"
    "MESH:D001943,Breast Neoplasms,disease,breast cancer,,tiny,\n"
    "OMIM:114480,Familial breast cancer,disease,,,tiny,MSH:D001943\n"
    "MESH:D003924,Type 2 diabetes mellitus,disease,type 2 diabetes,,tiny,\n"
    "ORPHA:905,Wilson disease,disease,,,tiny,OMIM:277900\n"
    "HP:0001250,Seizure,phenotype,,,tiny,\n"
)
# Title + " " + abstract; offsets below index that text.
DOC1 = ("1|t|Breast cancer and Wilson disease.\n"
        "1|a|Familial breast cancer was seen; seizures too.\n"
        "1\t0\t13\tBreast cancer\tSpecificDisease\tD001943\n"          # dictionary: MESH:D001943, right
        "1\t18\t32\tWilson disease\tSpecificDisease\tOMIM:277900\n"    # ORPHA:905 whose xref is the gold
        "1\t34\t56\tFamilial breast cancer\tDiseaseClass\tD001943\n"   # OMIM:114480, xref MSH:D001943
        "1\t67\t75\tseizures\tSpecificDisease\tD012640\n")             # no node or code: unplaced
DOC2 = ("2|t|Type 2 diabetes.\n"
        "2|a|Ovarian and breast cancers.\n"
        "2\t0\t15\tType 2 diabetes\tSpecificDisease\tD003924\n"        # synonym: right
        "2\t17\t43\tOvarian and breast cancers\tCompositeMention\tD010051|D001943\n")  # dense only
# The dense system: threshold -1 (never abstains) and a purely lexical re-rank, so its first
# candidate for the composite is a breast cancer node (right); "seizures" has no right node.
CONFIG = ("kg: {kg}\nembedder: hashing\nsystems: [dictionary, dense]\ntypes: [disease]\nk: 5\n"
          "threshold: -1.0\nlexical_weight: 1.0\n")


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """(PubTator file with document 1 repeated, settings YAML naming a CSV KG with its index built)."""
    from realm.kg.embedders import get_embedder
    from realm.kg.index import ChromaIndex, build_index
    from realm.kg.spec import load_kg

    spec = write_csv_kg(tmp_path / "kg", NODES, "source,target,relation,source_vocab\n", name="ncbi-tiny")
    kg = load_kg(spec, progress=False)
    embedder = get_embedder("hashing")
    build_index(kg, embedder, ChromaIndex.for_kg(kg.name, embedder.model_id), progress=False)
    data = tmp_path / "tiny.txt"
    data.write_text(DOC1 + "\n" + DOC2 + "\n" + DOC1)
    config = tmp_path / "settings.yaml"
    config.write_text(CONFIG.format(kg=spec))
    return data, config


def test_accuracy_on_the_tiny_corpus_is_what_the_hand_count_says(
        tiny: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, config = tiny
    out = tmp_path / "out.json"
    assert main(["bench", "linking-ncbi", "--data", str(data), "--out", str(out), "--config", str(config)]) == 0
    result = json.loads(out.read_text())
    # 6 mentions (the repeated document is skipped, not scored twice); 1 unplaced (seizures).
    assert result["data"]["mentions"] == 6 and result["data"]["documents"] == 2
    assert result["data"]["duplicate_documents_skipped"] == ["1"] and len(result["data"]["sha256"]) == 64
    # dictionary: breast cancer, Wilson disease, familial breast cancer, type 2 diabetes -> 4/6
    assert result["systems"]["dictionary"] == {"acc1": round(4 / 6, 4), "acc5": round(4 / 6, 4), "unplaced": 1, "n": 6}
    # dense: those four and the composite -> 5/6
    assert result["systems"]["dense"] == {"acc1": round(5 / 6, 4), "acc5": round(5 / 6, 4), "unplaced": 1, "n": 6}
    assert result["by_type"]["CompositeMention"] == {
        "dictionary": {"acc1": 0.0, "acc5": 0.0, "unplaced": 0, "n": 1},
        "dense": {"acc1": 1.0, "acc5": 1.0, "unplaced": 0, "n": 1}}
    assert result["by_type"]["SpecificDisease"]["dictionary"] == {"acc1": 0.75, "acc5": 0.75, "unplaced": 1, "n": 4}
    assert "dictionary" in capsys.readouterr().out


def test_a_high_threshold_makes_the_dense_system_abstain(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    data, config = tiny
    config.write_text(config.read_text().replace("threshold: -1.0", "threshold: 0.999"))
    out = tmp_path / "out.json"
    assert main(["bench", "linking-ncbi", "--data", str(data), "--out", str(out), "--config", str(config),
                 "--systems", "dense"]) == 0
    result = json.loads(out.read_text())
    # dictionary hits carry cosine 1.0 and stand; the composite's dense candidate is dropped
    assert result["systems"] == {"dense": {"acc1": round(4 / 6, 4), "acc5": round(4 / 6, 4), "unplaced": 1, "n": 6}}


def test_tune_picks_the_best_grid_point(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    data, config = tiny
    config.write_text(config.read_text() + "tune_types: [[phenotype], [disease]]\ntune_thresholds: [-1.0, 0.999]\n"
                      "tune_lexical_weights: [1.0]\n")
    out = tmp_path / "out.json"
    assert main(["bench", "linking-ncbi", "--data", str(data), "--out", str(out), "--config", str(config),
                 "--tune"]) == 0
    tuning = json.loads(out.read_text())["tuning"]
    assert len(tuning["grid"]) == 4
    assert tuning["best"] == {"lexical_weight": 1.0, "types": ["disease"], "threshold": -1.0, "acc1": round(5 / 6, 4)}


def test_codes_are_the_concept_members_and_their_cross_references() -> None:
    wilson = [Node("ORPHA:905", "Wilson disease", "disease", xrefs=("MSH:D006527",)),
              Node("OMIM:277900", "Wilson disease", "disease", xrefs=("UMLS:C0019202",)),
              Node("ICD10CM:E83.01", "Wilson's disease", "disease")]
    alone = KnowledgeGraph.from_nodes_edges(wilson, [])
    assert _codes_of(alone, "ORPHA:905") == {"ORPHA:905", "MESH:D006527"}  # not joined: its own concept
    joined = KnowledgeGraph.from_nodes_edges(wilson, [("ORPHA:905", "OMIM:277900", "same_as", "test"),
                                                     ("OMIM:277900", "ICD10CM:E83.01", "same_as", "test")])
    assert _codes_of(joined, "ICD10CM:E83.01") == {"ORPHA:905", "OMIM:277900", "ICD10CM:E83.01", "MESH:D006527",
                                                   "UMLS:C0019202"}


def test_an_unknown_system_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    data, config = tiny
    config.write_text(config.read_text().replace("[dictionary, dense]", "[dictionary, magic]"))
    assert main(["bench", "linking-ncbi", "--data", str(data), "--out", str(tmp_path / "o.json"),
                 "--config", str(config)]) == 1


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_development_set_reads_and_scores(shared_data: Path, tmp_path: Path) -> None:
    """The real development set: 100 abstracts, 787 mentions; the dictionary system on the
    default KG (the dense one needs `realm kg index`, minutes)."""
    dev = shared_data / "ncbi-disease" / "NCBIdevelopset_corpus.txt"
    if not dev.is_file():
        pytest.skip("NCBI disease corpus not present")
    out = tmp_path / "dev.json"
    assert main(["bench", "linking-ncbi", "--data", str(dev), "--out", str(out), "--systems", "dictionary"]) == 0
    result = json.loads(out.read_text())
    assert (result["data"]["documents"], result["data"]["mentions"]) == (100, 787)
    dictionary = result["systems"]["dictionary"]
    assert dictionary["n"] == 787 and 0 < dictionary["unplaced"] < 787
    assert 0 < dictionary["acc1"] <= dictionary["acc5"] <= 1 - dictionary["unplaced"] / 787
