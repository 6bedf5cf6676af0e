"""``realm extract`` through realm.cli.main on a tiny cohort and a tiny KG."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from realm.cli import main
from realm.data.cohort import Cohort
from realm.extract.mentions_table import MENTION_COLUMNS, entity_sets
from tests.kg_fixtures import EDGES, NODES, write_csv_kg

RULES = """variable,direction,threshold,unit,node_id,node_name,status,note
potassium,high,5.5,mmol/L,HP:0002153,Hyperkalemia,reviewed,
sodium,low,135,mmol/L,HP:0002902,Hyponatremia,reviewed,not in the tiny KG
"""
NOTES = {
    "n1": "Admitted with sepsis on levophed. No pneumonia.",
    "n2": "Sepsis improving. Family history of acute kidney injury.",
    "n3": "Creatinine rising, concern for acute renal failure.",
}


@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[Path, Path, Path]:
    spec = write_csv_kg(tmp_path / "kg", NODES, EDGES)
    rules = tmp_path / "lab_findings.csv"
    rules.write_text(RULES)
    cohort = Cohort(
        stays=pd.DataFrame({"stay_id": [1, 2], "subject_id": [10, 20], "source": ["test", "test"]}),
        events=pd.DataFrame({"stay_id": [1, 1, 2], "hours": [4.0, 30.0, 2.0], "variable": ["potassium"] * 3,
                             "value": [5.9, 6.4, 4.1]}),
        notes=pd.DataFrame({"note_id": list(NOTES), "stay_id": [1, 1, 2], "hours": [2.0, 20.0, 5.0],
                            "category": ["nursing"] * 3, "text": list(NOTES.values())}),
        labels=pd.DataFrame({"stay_id": [1, 2], "mortality": [1, 0]}),
        meta={"window_hours": 48},
    )
    cohort_dir = cohort.save(tmp_path / "cohort")
    return cohort_dir, spec, rules


def test_extract_with_the_lexicon_writes_linked_mentions_and_findings(tiny: tuple[Path, Path, Path]) -> None:
    cohort_dir, spec, rules = tiny
    code = main(["extract", "--cohort", str(cohort_dir), "--extractor", "lexicon", "--kg", str(spec),
                 "--lab-findings", str(rules), "--no-progress"])
    assert code == 0
    table = pd.read_parquet(cohort_dir / "mentions.parquet")
    assert list(table.columns[: len(MENTION_COLUMNS)]) == list(MENTION_COLUMNS)
    notes = table[table["extractor"] == "lexicon"]
    got = {(r.note_id, r.node_id, r.assertion) for r in notes.itertuples()}
    assert {("n1", "T:sepsis", "present"), ("n1", "T:norepi", "present"), ("n1", "T:pneumonia", "negated"),
            ("n2", "T:aki", "family"), ("n3", "T:aki", "hypothetical")} <= got
    assert set(notes["hours"]) == {2.0, 20.0, 5.0}
    # every linked row carries its concept (a CSV KG without joins: the node itself) and codes
    linked = table[table["node_id"].notna()]
    assert (linked["concept_id"] == linked["node_id"]).all()
    assert all(json.loads(c) == [n] for c, n in zip(linked["codes"], linked["node_id"]))
    finding = table[table["extractor"] == "timeseries"]
    assert len(finding) == 1  # stay 2's potassium is normal; hyponatremia has no node
    row = finding.iloc[0]
    assert (row.stay_id, row.node_id, row.hours, row.worst_value, row.n_abnormal) == (1, "T:hyperk", 4.0, 6.4, 2)
    meta = json.loads((cohort_dir / "mentions_meta.json").read_text())
    assert meta["kg"]["name"] == "tiny" and len(meta["kg"]["version"]) == 16
    assert meta["counts"]["rules_without_node"] == ["HP:0002902"]
    assert meta["counts"]["timeseries_findings"] == 1
    sets = entity_sets(table)
    assert ("T:pneumonia", "negated") in {(n, a.value) for n, a in zip(sets[1].node_ids, sets[1].assertions)}
    assert "T:pneumonia" not in [n for n, a in zip(sets[1].node_ids, sets[1].assertions) if a.value == "present"]


def test_the_stage_function_takes_a_loaded_kg_and_writes_where_asked(tiny: tuple[Path, Path, Path],
                                                                      tmp_path: Path) -> None:
    """extract_mentions without the command: a loaded graph, no time series, another folder."""
    from realm.kg.spec import load_kg
    from realm.pipeline.extract import ExtractConfig, extract_mentions

    cohort_dir, spec, _ = tiny
    kg = load_kg(str(spec), progress=False)
    path = extract_mentions(cohort_dir, kg, ExtractConfig(timeseries=False, progress=False), out=tmp_path / "m")
    assert path == tmp_path / "m" / "mentions.parquet" and not (cohort_dir / "mentions.parquet").exists()
    table = pd.read_parquet(path)
    assert set(table["extractor"]) == {"lexicon"}
    meta = json.loads(path.with_name("mentions_meta.json").read_text())
    assert meta["kg"] == {"name": kg.name, "version": kg.version, "spec": kg.name}
    assert "timeseries_findings" not in meta["counts"]


def test_extract_with_a_scripted_llm_links_and_counts_hallucinations(tiny: tuple[Path, Path, Path], tmp_path: Path) -> None:
    cohort_dir, spec, rules = tiny
    answers = {
        "levophed": {"entities": [{"text": "sepsis", "type": "condition"}, {"text": "levophed", "type": "drug"},
                                  {"text": "pneumonia", "type": "condition", "assertion": "negated"},
                                  {"text": "heart failure", "type": "condition"}]},
        "Family": {"entities": [{"text": "acute kidney injury", "type": "condition", "assertion": "family"}]},
        "Creatinine": {"entities": []},
    }
    config = tmp_path / "llm.yaml"
    config.write_text(json.dumps({
        "model": {"class_path": "realm.llm.fake.ScriptedToolChatModel", "kwargs": {"by_substring": answers}},
        "extractor": {"max_concurrency": 2, "backoff": 0.0},
    }))
    out = tmp_path / "out"
    code = main(["extract", "--cohort", str(cohort_dir), "--extractor", "llm", "--kg", str(spec),
                 "--llm-config", str(config), "--linker", "dictionary", "--no-timeseries",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    table = pd.read_parquet(out / "mentions.parquet")
    got = {(r.note_id, r.text, r.node_id, r.assertion) for r in table.itertuples()}
    assert got == {("n1", "sepsis", "T:sepsis", "present"), ("n1", "levophed", "T:norepi", "present"),
                   ("n1", "pneumonia", "T:pneumonia", "negated"),
                   ("n2", "acute kidney injury", "T:aki", "family")}
    meta = json.loads((out / "mentions_meta.json").read_text())
    assert meta["counts"]["hallucinations_dropped"] == 1
    assert meta["config"]["llm"]["model_id"].startswith("realm.llm.fake.ScriptedToolChatModel")
    assert not (cohort_dir / "mentions.parquet").exists()


def test_llm_extractor_without_config_is_a_clean_error(tiny: tuple[Path, Path, Path]) -> None:
    cohort_dir, spec, _ = tiny
    assert main(["extract", "--cohort", str(cohort_dir), "--extractor", "llm", "--kg", str(spec), "--no-progress"]) == 1


def test_extract_with_the_ensemble_votes_lexicon_and_a_scripted_llm(
    tiny: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort_dir, spec, _ = tiny
    # the LLM response cache keys on model id and text, not on the scripted answers
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))
    # the LLM agrees on sepsis (n1, n2) and acute kidney injury, misses levophed and pneumonia,
    # and names one entity the lexicon does not know
    answers = {
        "levophed": {"entities": [{"text": "sepsis", "type": "condition"}, {"text": "heart failure", "type": "condition"}]},
        "Family": {"entities": [{"text": "Sepsis", "type": "condition"},
                                {"text": "acute kidney injury", "type": "condition", "assertion": "family"}]},
        "Creatinine": {"entities": []},
    }
    config = tmp_path / "llm.yaml"
    config.write_text(json.dumps({
        "model": {"class_path": "realm.llm.fake.ScriptedToolChatModel", "kwargs": {"by_substring": answers}},
        "extractor": {"max_concurrency": 1, "backoff": 0.0},
    }))
    common = ["extract", "--cohort", str(cohort_dir), "--extractor", "ensemble", "--kg", str(spec),
              "--llm-config", str(config), "--linker", "dictionary", "--no-timeseries", "--no-progress"]
    assert main([*common, "--ensemble-mode", "vote", "--min-votes", "2", "--out", str(tmp_path / "vote")]) == 0
    vote = pd.read_parquet(tmp_path / "vote" / "mentions.parquet")
    got = {(r.note_id, r.node_id, r.assertion, r.extractor) for r in vote.itertuples()}
    assert got == {("n1", "T:sepsis", "present", "ensemble:lexicon+llm"),
                   ("n2", "T:sepsis", "present", "ensemble:lexicon+llm"),
                   ("n2", "T:aki", "family", "ensemble:lexicon+llm")}
    meta = json.loads((tmp_path / "vote" / "mentions_meta.json").read_text())
    assert meta["config"]["ensemble"] == {"mode": "vote", "min_votes": 2, "min_confidence": 0.5}

    assert main([*common, "--ensemble-mode", "union", "--out", str(tmp_path / "union")]) == 0
    union = pd.read_parquet(tmp_path / "union" / "mentions.parquet")
    by_note = {(r.note_id, r.node_id): r.extractor for r in union.itertuples()}
    # lexicon-only findings survive a union, under the lexicon's name alone
    assert by_note[("n1", "T:norepi")] == "ensemble:lexicon"
    assert by_note[("n1", "T:sepsis")] == "ensemble:lexicon+llm"
    assert ("n1", "T:pneumonia") in by_note and ("n3", "T:aki") in by_note


def test_ctrl_c_during_llm_extraction_exits_130_with_one_line_and_the_rerun_resumes(
    tiny: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))  # answers cached by other tests would hide the calls
    cohort_dir, spec, _ = tiny
    answer = {"entities": [{"text": "sepsis", "type": "condition"}]}
    config = tmp_path / "llm.yaml"
    config.write_text(json.dumps({
        "model": {"class_path": "realm.llm.fake.ScriptedToolChatModel",
                  "kwargs": {"responses": [answer, {"raise": "interrupt"}]}},
        "extractor": {"max_concurrency": 1, "backoff": 0.0},
    }))
    argv = ["extract", "--cohort", str(cohort_dir), "--extractor", "llm", "--kg", str(spec), "--llm-config",
            str(config), "--linker", "dictionary", "--no-timeseries", "--no-progress"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted; 1 chunks cached, re-run to resume\n" in err and "Traceback" not in err
    assert not (cohort_dir / "mentions.parquet").exists()
    # the re-run answers the two other notes and takes the first from the cache
    config.write_text(json.dumps({
        "model": {"class_path": "realm.llm.fake.ScriptedToolChatModel", "kwargs": {"default": answer}},
        "extractor": {"max_concurrency": 1, "backoff": 0.0},
    }))
    assert main(argv) == 0
    meta = json.loads((cohort_dir / "mentions_meta.json").read_text())
    assert meta["counts"]["llm"]["cache_hits"] == 1 and meta["counts"]["llm"]["calls"] == 2


def test_relinked_lexicon_mentions_go_through_a_chroma_index_of_their_types_only(
    tiny: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort_dir, spec, _ = tiny
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))
    assert main(["extract", "--cohort", str(cohort_dir), "--kg", str(spec), "--relink-types", "drug",
                 "--embedder", "hashing", "--no-timeseries", "--no-prescriptions", "--no-progress",
                 "--out", str(tmp_path / "m")]) == 0
    path = tmp_path / "m" / "mentions.parquet"
    linking = json.loads(path.with_name("mentions_meta.json").read_text())["linking"]
    # levophed is the one drug mention; only the drug names (Norepinephrine, levophed) are indexed
    assert (linking["linker"], linking["linked_by_linker"], linking["outcome"]) == ("dense", 1, {"kept": 1})
    assert linking["index"]["store"] == "chroma" and linking["index"]["types"] == ["drug"]
    assert linking["index"]["entries"] == 2 and linking["index"]["embedder"] == "hashing-3gram-256"
    table = pd.read_parquet(path)
    assert ("levophed", "T:norepi") in set(zip(table["text"], table["node_id"]))


def test_the_dense_linker_extends_the_cached_index_to_new_types_and_reuses_it(
    tiny: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realm.pipeline.extract import ExtractConfig, extract_mentions

    cohort_dir, spec, _ = tiny
    monkeypatch.setenv("REALM_CACHE", str(tmp_path / "cache"))
    answers = {"levophed": {"entities": []}, "Family": {"entities": []},
               "Creatinine": {"entities": [{"text": "renal failure", "type": "disease"}]}}
    config = tmp_path / "llm.yaml"
    config.write_text(json.dumps({
        "model": {"class_path": "realm.llm.fake.ScriptedToolChatModel", "kwargs": {"by_substring": answers}},
        "extractor": {"max_concurrency": 1, "backoff": 0.0}}))
    common = {"embedder": "hashing", "timeseries": False, "prescriptions": False, "progress": False}
    extract_mentions(cohort_dir, str(spec), ExtractConfig(relink_types=("drug",), **common), out=tmp_path / "a")
    runs = []
    for out in ("b", "c"):
        path = extract_mentions(cohort_dir, str(spec), ExtractConfig(extractor="llm", llm_config=config, **common),
                                out=tmp_path / out)
        runs.append(json.loads(path.with_name("mentions_meta.json").read_text())["linking"])
        table = pd.read_parquet(path)
        # a name no dictionary holds ("acute renal failure" does): linked by dense retrieval
        assert list(zip(table["text"], table["node_id"])) == [("renal failure", "T:aki")]
    # the drug index gained the disease names (7 strings in all); the second run only reads it
    assert [r["index"]["types"] for r in runs] == [["disease", "drug"]] * 2
    assert [r["index"]["entries"] for r in runs] == [7, 7]
    # (a flag, not the seconds: seven strings index in well under the 0.1 s the record rounds to)
    assert runs[0]["index"]["built"] and not runs[1]["index"]["built"] and runs[1]["index"]["build_seconds"] == 0


def test_the_early_index_build_stops_when_extraction_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The relink index is built beside the extraction; Ctrl-C (or any failure) in the
    extraction tells it to stop instead of leaving a thread indexing for minutes."""
    import threading

    from realm.errors import Interrupted
    from realm.kg.graph import KnowledgeGraph
    from realm.pipeline import extract
    from realm.records import Node

    kg = KnowledgeGraph.from_nodes_edges([Node("D:1", "norepinephrine", "drug")], [], name="t")
    told: list[bool] = []

    def slow_index(graph: KnowledgeGraph, cfg: object, types: set[str], stop: threading.Event | None = None):
        told.append(stop is not None and stop.wait(20))
        raise Interrupted("stopped")

    monkeypatch.setattr(extract, "_dense_index", slow_index)
    cfg = extract.ExtractConfig(relink_types=("drug",), embedder="hashing", progress=False)
    with pytest.raises(KeyboardInterrupt, match="user"):
        with extract._early_index(kg, cfg) as early:
            assert early is not None
            raise KeyboardInterrupt("user")
    assert told == [True]
    # nothing to build: no thread at all
    with extract._early_index(kg, extract.ExtractConfig(linker="dictionary", relink_types=("drug",))) as early:
        assert early is None
