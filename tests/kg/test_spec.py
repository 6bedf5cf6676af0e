"""load_kg: YAML specs, caching keyed by content, rebuild, version stability, the 'hpo' built-in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from realm.errors import ConfigError, DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.spec import KGIdentity, kg_cache_path, kg_identity, load_kg

EXAMPLE = Path(__file__).resolve().parents[2] / "kg" / "examples"


@pytest.fixture()
def spec(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE / "sepsis_icu", tmp_path / "sepsis_icu")
    shutil.copy(EXAMPLE / "sepsis_icu.yaml", tmp_path / "sepsis_icu.yaml")
    return tmp_path / "sepsis_icu.yaml"


def test_example_loads_through_config(spec: Path) -> None:
    kg = load_kg(spec, progress=False)
    assert kg.name == "sepsis_icu"
    assert len(kg) == 13 and kg.graph.number_of_edges() == 12
    assert kg.node("ICU:aki").synonyms == ("AKI", "acute renal failure", "ARF")
    assert kg_cache_path(spec).is_file()


def test_cache_reused_then_rebuilt(spec: Path) -> None:
    first = load_kg(spec, progress=False)
    path = kg_cache_path(spec)
    mtime = path.stat().st_mtime_ns
    again = load_kg(spec, progress=False)
    assert again.version == first.version and path.stat().st_mtime_ns == mtime
    load_kg(spec, rebuild=True, progress=False)
    assert path.stat().st_mtime_ns != mtime


def test_identity_without_parsing_the_graph(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = kg_identity(spec, progress=False)  # builds the KG on first use
    kg = load_kg(spec, progress=False)
    assert built == KGIdentity(kg.name, kg.version)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("kg_identity parsed the cached graph")

    monkeypatch.setattr(KnowledgeGraph, "load", refuse)
    assert kg_identity(spec, progress=False) == built
    # a cache written before the identity file existed: read the graph once, then never again
    kg_cache_path(spec).with_name("identity.json").unlink()
    monkeypatch.undo()
    assert kg_identity(spec, progress=False) == built
    assert kg_cache_path(spec).with_name("identity.json").is_file()


def test_cached_graph_is_read_from_its_pickle_and_never_from_a_stale_one(spec: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    built = load_kg(spec, progress=False)
    fast = kg_cache_path(spec).with_name("graph.pickle")
    assert fast.is_file()
    original = KnowledgeGraph.load

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the JSON was parsed")

    monkeypatch.setattr(KnowledgeGraph, "load", refuse)
    again = load_kg(spec, progress=False)
    assert again.version == built.version and sorted(again.edges()) == sorted(built.edges())
    assert again.node("ICU:aki") == built.node("ICU:aki") and again.aliases == built.aliases
    # the graph file replaced (same content, new mtime): its old pickle is not used
    monkeypatch.setattr(KnowledgeGraph, "load", original)
    graph = kg_cache_path(spec)
    graph.write_bytes(graph.read_bytes())
    calls = []
    monkeypatch.setattr(KnowledgeGraph, "load", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert load_kg(spec, progress=False).version == built.version and calls == [1]
    # a damaged pickle: read the JSON, write a good pickle
    fast.write_bytes(fast.read_bytes()[:100])
    assert load_kg(spec, progress=False).version == built.version and calls == [1, 1]
    assert load_kg(spec, progress=False).version == built.version and calls == [1, 1]


def test_changed_synonym_changes_version_and_cache_key(spec: Path) -> None:
    before = load_kg(spec, progress=False)
    old_path = kg_cache_path(spec)
    nodes = spec.parent / "sepsis_icu" / "nodes.csv"
    nodes.write_text(nodes.read_text().replace("septicemia|", "septicaemia|"))
    after = load_kg(spec, progress=False)
    assert kg_cache_path(spec) != old_path
    assert after.version != before.version
    assert "septicaemia" in after.node("ICU:sepsis").synonyms


def test_same_input_same_version(spec: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy"
    shutil.copytree(spec.parent / "sepsis_icu", other / "sepsis_icu")
    shutil.copy(spec, other / "sepsis_icu.yaml")
    assert load_kg(other / "sepsis_icu.yaml", progress=False).version == load_kg(spec, progress=False).version


def test_strict_spec_fails_on_bad_row(spec: Path) -> None:
    edges = spec.parent / "sepsis_icu" / "edges.csv"
    edges.write_text(edges.read_text() + "ICU:sepsis,ICU:nowhere,is_a,x\n")
    with pytest.raises(DataError, match=r"edges\.csv, row 14.*unknown"):
        load_kg(spec, progress=False)


def test_bad_specs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a built-in"):
        load_kg("no-such-kg")
    (tmp_path / "a.yaml").write_text("name: x\nsources: []\n")
    with pytest.raises(ConfigError, match="non-empty 'sources'"):
        load_kg(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("sources:\n  - loader: magic\n")
    with pytest.raises(ConfigError, match="'magic' is not one of"):
        load_kg(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text("sources:\n  - loader: csv\n    nodes: missing.csv\n")
    with pytest.raises(DataError, match="missing.csv"):
        load_kg(tmp_path / "c.yaml")


@pytest.mark.slow
def test_hpo_builtin() -> None:
    kg = load_kg("hpo", progress=False)
    node = kg.node("HP:0002153")
    assert (node.name, node.type, node.source) == ("Hyperkalemia", "phenotype", "HPO")
    assert "Elevated serum potassium levels" in node.synonyms
    assert {n.type for n in kg.nodes()} == {"phenotype"}
    assert "HP:0000005" not in kg  # mode of inheritance branch is left out by design
    assert kg.resolve("HP:0004715") == "HP:0000003"  # alt_id
    assert kg.resolve("HP:0000057") == "HP:0008665"  # obsolete term, replaced_by
    assert len(kg) > 15000
