"""Loaders on tiny fixtures: nodes/edges CSV, PrimeKG, OBO, networkx; validation errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realm.errors import DataError, RealmError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders import LoadReport, clean_text, load_networkx, load_obo, load_primekg, load_tables, write_tables
from realm.kg.loaders.obo import parse_obo_synonym
from realm.records import Node

NODES = "id,name,type,synonyms,definition,source,xrefs\n"
EDGES = "source,target,relation,source_vocab\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_tables_load_fields(tmp_path: Path) -> None:
    nodes = _write(tmp_path / "nodes.csv", NODES + 'X:1,Septic shock,disease,"shock, septic|sepsis shock",Bad.,X,ICD10CM:R65.21\nX:2,Fever,phenotype,,,,\n')
    edges = _write(tmp_path / "edges.csv", EDGES + "X:1,X:2,has_phenotype,X\n")
    kg = load_tables(nodes, edges, source="fallback")
    assert kg.node("X:1") == Node("X:1", "Septic shock", "disease", ("shock, septic", "sepsis shock"), "Bad.", "X", ("ICD10CM:R65.21",))
    assert kg.node("X:2").source == "fallback"
    assert list(kg.edges()) == [("X:1", "X:2", "has_phenotype", "X")]


def test_ragged_row_names_file_and_line(tmp_path: Path) -> None:
    nodes = _write(tmp_path / "nodes.csv", NODES + "X:1,A,disease,,,,\nX:2,B,disease\n")
    with pytest.raises(DataError, match=r"nodes\.csv, row 3"):
        load_tables(nodes)


def test_missing_column_is_reported(tmp_path: Path) -> None:
    nodes = _write(tmp_path / "nodes.csv", "id,label\nX:1,A\n")
    with pytest.raises(DataError, match="missing required column"):
        load_tables(nodes)


def test_content_problems_are_counted_not_silent(tmp_path: Path) -> None:
    nodes = _write(tmp_path / "nodes.csv", NODES + "X:1,A,disease,,,,\nX:1,A again,disease,,,,\nX:2,,disease,,,,\nX:3,Caf\u0065\u0301\u200b  au lait,disease,,,,\n")
    edges = _write(tmp_path / "edges.csv", EDGES + "X:1,X:9,is_a,\nX:1,X:3,is_a,\nX:1,X:3,is_a,\n")
    report = LoadReport("t")
    kg = load_tables(nodes, edges, report=report)
    assert sorted(kg.graph.nodes) == ["X:1", "X:3"]
    assert kg.node("X:1").name == "A"  # first kept
    assert kg.node("X:3").name == "Caf\u00e9 au lait"  # NFC, zero-width space dropped, spaces collapsed
    assert report.counts == {"duplicate id": 1, "empty name": 1, "normalized text": 1, "edge to unknown node": 1, "duplicate edge": 1}
    assert "X:9" in report.summary()


def test_strict_report_raises_with_row(tmp_path: Path) -> None:
    nodes = _write(tmp_path / "nodes.csv", NODES + "X:1,A,disease,,,,\nX:1,B,disease,,,,\n")
    with pytest.raises(DataError, match=r"row 3.*duplicate id"):
        load_tables(nodes, report=LoadReport("t", strict=True))


_text = st.text(st.characters(codec="utf-8", exclude_characters="|"), min_size=1, max_size=20).map(clean_text).filter(bool)


@st.composite
def _graphs(draw: st.DrawFn) -> KnowledgeGraph:
    ids = draw(st.lists(st.from_regex(r"[A-Z]{1,4}:[A-Za-z0-9._-]{1,8}", fullmatch=True), min_size=1, max_size=6, unique=True))
    kg = KnowledgeGraph("prop")
    for node_id in ids:
        name = draw(_text)
        synonyms = tuple(dict.fromkeys(s for s in draw(st.lists(_text, max_size=3)) if s != name))
        kg.add_node(Node(node_id, name, draw(st.sampled_from(["disease", "drug", "x y"])), synonyms,
                         draw(st.one_of(st.just(""), _text)), draw(st.sampled_from(["A", "B"])),
                         tuple(dict.fromkeys(draw(st.lists(_text, max_size=2))))))
    # a valid KG: no self-loops, and is_a edges point down the id list (so they hold no cycle)
    for i, j in draw(st.lists(st.tuples(st.integers(0, len(ids) - 1), st.integers(0, len(ids) - 1)),
                              max_size=8)):
        if i != j:
            relation = draw(st.sampled_from(["is_a", "treats"]))
            src, dst = (ids[min(i, j)], ids[max(i, j)]) if relation == "is_a" else (ids[i], ids[j])
            kg.add_edge(src, dst, relation, "A")
    return kg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kg=_graphs())
def test_tables_round_trip(kg: KnowledgeGraph, tmp_path: Path) -> None:
    nodes, edges = write_tables(kg, tmp_path / "rt")
    back = load_tables(nodes, edges, name="prop", report=LoadReport("rt", strict=True))
    assert list(back.nodes()) == list(kg.nodes())
    assert list(back.edges()) == list(kg.edges())
    assert back.version == kg.version


@given(st.text(st.characters(exclude_categories=("Cs",), exclude_characters='"\\\n'), max_size=30), st.sampled_from(["EXACT", "RELATED", "BROAD", "NARROW"]))
def test_obo_synonym_parse_property(text: str, scope: str) -> None:
    assert parse_obo_synonym(f'"{text}" {scope} layperson [ORCID:1]') == (text, scope)


def test_obo_synonym_malformed() -> None:
    assert parse_obo_synonym("no quotes EXACT []") is None


OBO = """format-version: 1.2

[Term]
id: T:0000001
name: Root

[Term]
id: T:0000002
name: Hyperkalemia
alt_id: T:0000099
def: "High \\"serum\\" potassium." [PMID:1]
synonym: "High potassium" EXACT []
synonym: "Hyperkalaemia" RELATED uk_spelling []
xref: UMLS:C0020461
is_a: T:0000001 ! Root

[Term]
id: T:0000003
name: obsolete Potassium excess
is_obsolete: true
replaced_by: T:0000002

[Term]
id: OTHER:1
name: Imported
"""


def test_obo_loader(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.obo", OBO)
    kg = load_obo(path, prefix="T", source="T")
    assert sorted(kg.graph.nodes) == ["T:0000001", "T:0000002"]
    node = kg.node("T:0000002")
    assert node.synonyms == ("High potassium", "Hyperkalaemia")
    assert node.definition == 'High "serum" potassium.'
    assert node.xrefs == ("UMLS:C0020461",)
    assert list(kg.edges()) == [("T:0000002", "T:0000001", "is_a", "T")]
    assert kg.resolve("T:0000099") == kg.resolve("T:0000003") == "T:0000002"


def test_obo_root_filter(tmp_path: Path) -> None:
    kg = load_obo(_write(tmp_path / "t.obo", OBO), prefix="T", root="T:0000002")
    assert list(kg.graph.nodes) == ["T:0000002"]


PRIMEKG = (
    "relation,display_relation,x_index,x_id,x_type,x_name,x_source,y_index,y_id,y_type,y_name,y_source\n"
    "disease_phenotype_positive,phenotype present,1,5090,disease,hyperkalemic periodic paralysis,MONDO,2,2153,effect/phenotype,Hyperkalemia,HPO\n"
    "phenotype_disease_positive,phenotype present,2,2153,effect/phenotype,Hyperkalemia,HPO,1,5090,disease,hyperkalemic periodic paralysis,MONDO\n"
    "indication,indication,3,DB00001,drug,Lepirudin,DrugBank,4,12_34,disease,grouped thing,MONDO_grouped\n"
)
FEATURES = "node_index,mondo_id,mondo_name,mondo_definition,umls_description\n1,5090,hpp,,Attacks of weakness with high potassium.\n"


def test_primekg_loader(tmp_path: Path) -> None:
    kg = load_primekg(_write(tmp_path / "kg.csv", PRIMEKG), _write(tmp_path / "disease_features.csv", FEATURES))
    assert sorted(kg.graph.nodes) == ["DRUGBANK:DB00001", "HP:0002153", "MONDO:0000012", "MONDO:0005090"]
    assert kg.node("HP:0002153").type == "phenotype"
    assert kg.node("MONDO:0005090").definition == "Attacks of weakness with high potassium."
    assert ("MONDO:0005090", "HP:0002153", "disease_phenotype_positive", "PrimeKG") in set(kg.edges())
    assert kg.graph.number_of_edges() == 3


def test_primekg_ragged_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"kg\.csv, row 2"):
        load_primekg(_write(tmp_path / "kg.csv", PRIMEKG.splitlines()[0] + "\nfoo,bar\n"))


def test_networkx_graphml_and_json(tmp_path: Path) -> None:
    graph = nx.DiGraph()
    graph.add_node("N:1", name="Sepsis", type="disease", synonyms="septicemia|blood poisoning")
    graph.add_node("N:2", name="Fever", type="phenotype")
    graph.add_edge("N:1", "N:2", relation="has_phenotype")
    nx.write_graphml(graph, tmp_path / "g.graphml")
    kg = load_networkx(tmp_path / "g.graphml")
    assert kg.node("N:1").synonyms == ("septicemia", "blood poisoning")
    assert list(kg.edges())[0][:3] == ("N:1", "N:2", "has_phenotype")
    (tmp_path / "g.json").write_text(json.dumps(nx.node_link_data(graph, edges="links")))
    assert load_networkx(tmp_path / "g.json").version == kg.version


def test_networkx_missing_attribute(tmp_path: Path) -> None:
    graph = nx.Graph()
    graph.add_node("N:1", name="x")
    nx.write_graphml(graph, tmp_path / "g.graphml")
    with pytest.raises(DataError, match="lacks a 'name' or 'type'"):
        load_networkx(tmp_path / "g.graphml")


def test_invalid_ids_self_loops_and_is_a_cycles_are_counted(tmp_path: Path) -> None:
    nodes = _write(tmp_path / "nodes.csv", NODES + "X:1,One,disease,,,,\nX:2,Two,disease,,,,\n"
                   "X:3,Three,disease,,,,\nX:\u200b1,Look-alike,disease,,,,\n")
    edges = _write(tmp_path / "edges.csv", EDGES + "X:1,X:2,is_a,X\nX:2,X:3,is_a,X\n"
                   "X:3,X:1,is_a,X\nX:2,X:2,is_a,X\n")
    report = LoadReport("test")
    kg = load_tables(nodes, edges, report=report)
    assert report.counts["invalid id"] == 1 and "X:\u200b1" not in kg
    assert report.counts["self-loop"] == 1
    assert report.counts["is_a cycle"] == 1
    assert "edges.csv:4" in report.examples["is_a cycle"][0]  # the edge read last is dropped
    assert nx.is_directed_acyclic_graph(kg.graph)
    assert ("is_a", "X:2") in kg.neighbors("X:1") and ("is_a", "X:3") in kg.neighbors("X:2")


@pytest.mark.parametrize("edge", ["X:1,X:1,is_a,X\n", "X:1,X:2,is_a,X\nX:2,X:1,is_a,X\n"])
def test_strict_load_refuses_self_loops_and_cycles(tmp_path: Path, edge: str) -> None:
    nodes = _write(tmp_path / "nodes.csv", NODES + "X:1,One,disease,,,,\nX:2,Two,disease,,,,\n")
    edges = _write(tmp_path / "edges.csv", EDGES + edge)
    with pytest.raises(DataError, match="edges.csv"):
        load_tables(nodes, edges, report=LoadReport("test", strict=True))


def test_the_report_names_both_tables(tmp_path: Path) -> None:
    nodes = _write(tmp_path / "nodes.csv", NODES + "X:1,One,disease,,,,\n")
    edges = _write(tmp_path / "edges.csv", EDGES + "X:1,X:9,is_a,X\n")
    kg = load_tables(nodes, edges)
    assert len(kg) == 1  # the summary's heading names edges.csv too (the row is there)
    report = LoadReport(str(nodes) + f" + {edges}")
    load_tables(nodes, edges, report=report)
    assert report.summary().splitlines()[0].startswith(f"{nodes} + {edges}")
    assert "edges.csv:2" in report.examples["edge to unknown node"][0]


# -- property: random malformations of nodes/edges CSV and OBO ---------------------------------
def _append_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


_BAD_NODE = st.sampled_from(["empty id", "invisible id", "spaced id", "duplicate id", "empty name", "empty type"])
_BAD_EDGE = st.sampled_from(["unknown node", "self-loop", "empty relation", "duplicate edge", "reverse is_a"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kg=_graphs(), bad_nodes=st.lists(_BAD_NODE, max_size=4), bad_edges=st.lists(_BAD_EDGE, max_size=4),
       data=st.data())
def test_malformed_kg_rows_are_counted_and_never_cost_a_good_row(kg: KnowledgeGraph, bad_nodes, bad_edges,
                                                                   data, tmp_path_factory) -> None:
    nodes, edges = write_tables(kg, tmp_path_factory.mktemp("kg"))
    ids = sorted(kg.graph.nodes)
    known = data.draw(st.sampled_from(ids))
    node_rows = {
        "empty id": ["", "Nameless id", "disease", "", "", "A", ""],
        "invisible id": [known[:2] + "\u200b" + known[2:], "Look-alike", "disease", "", "", "A", ""],
        "spaced id": [known + " x", "Spaced", "disease", "", "", "A", ""],
        "duplicate id": [known, "Second of its id", "disease", "", "", "A", ""],
        "empty name": ["NEW:1", "", "disease", "", "", "A", ""],
        "empty type": ["NEW:2", "No type", "", "", "", "A", ""],
    }
    _append_rows(nodes, [node_rows[kind] for kind in bad_nodes])
    existing = list(kg.edges())
    is_a = [(s, d) for s, d, r, _ in existing if r == "is_a"]
    edge_rows = []
    for kind in bad_edges:
        if kind == "duplicate edge" and existing:
            s, d, r, v = data.draw(st.sampled_from(existing))
            edge_rows.append([s, d, r, v])
        elif kind == "reverse is_a" and is_a:
            s, d = data.draw(st.sampled_from(is_a))
            edge_rows.append([d, s, "is_a", "A"])
        elif kind == "self-loop":
            edge_rows.append([known, known, "treats", "A"])
        elif kind == "empty relation" and len(ids) > 1:
            edge_rows.append([ids[0], ids[1], "", "A"])
        else:
            edge_rows.append([known, "NOWHERE:0", "treats", "A"])
    _append_rows(edges, edge_rows)
    report = LoadReport("prop")
    back = load_tables(nodes, edges, name="prop", report=report)
    assert list(back.nodes()) == list(kg.nodes())  # every well-formed node kept, as it was
    assert list(back.edges()) == list(kg.edges())
    assert report.total == len(bad_nodes) + len(edge_rows)  # every bad row counted once


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.lists(st.sampled_from([NODES, EDGES, ",", "\"", "\n", "X:1", "|", "\ufeff", "\x00",
                                                "\r", "a,b,c,d,e,f,g\n"]), max_size=12).map("".join)),
       which=st.sampled_from(["nodes", "edges"]))
def test_any_kg_table_loads_or_raises_a_realm_error(text: str, which: str, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("garbage")
    nodes = _write(folder / "nodes.csv", NODES + "X:1,One,disease,,,,\n")
    edges = _write(folder / "edges.csv", EDGES)
    _write(nodes if which == "nodes" else edges, text)
    try:
        load_tables(nodes, edges)
    except RealmError:
        pass


_OBO_PIECES = st.sampled_from([
    "format-version: 1.2\n", "[Term]\n", "[Typedef]\n", "id: T:1\n", "id: T:2\n", "id: \n", "name: One\n",
    "name:\n", "is_a: T:1\n", "is_a: T:9 ! missing\n", "is_a:\n", 'synonym: "One syn" EXACT []\n',
    "synonym: unquoted EXACT []\n", 'synonym: "unterminated\n', 'def: "A def." []\n', "def: no quotes\n",
    "alt_id: T:1\n", "replaced_by: T:2\n", "is_obsolete: true\n", "relationship: part_of T:1\n",
    "relationship: part_of\n", "xref: \n", "\n", ":\n", "!comment\n", "[Term\n", "id T:3\n", "\ufeff", "\x00",
])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.lists(_OBO_PIECES, max_size=25).map("".join), st.text(max_size=200)),
       root=st.sampled_from([None, "T:1"]))
def test_any_obo_loads_or_raises_a_realm_error(text: str, root, tmp_path_factory) -> None:
    path = _write(tmp_path_factory.mktemp("obo") / "t.obo", text)
    try:
        kg = load_obo(path, prefix="T", root=root)
    except RealmError:
        return
    assert all(node.name for node in kg.nodes())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.lists(st.sampled_from([
    "[Term]\nid: T:0000002\nsynonym: no quotes EXACT []\n",
    "[Term]\nid: T:0000007\nname: Orphan\nis_a: T:0000404 ! nowhere\n",
    "[Term]\nid: T:0000008\n",
    "[Term]\nid: T:0000009\nname: Bad def\ndef: no quotes here\n",
]), max_size=4, unique=True))
def test_malformed_obo_stanzas_are_counted_and_never_cost_a_good_term(bad, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp("obo")
    clean = load_obo(_write(folder / "clean.obo", OBO), prefix="T", source="T")
    report = LoadReport("prop")
    kg = load_obo(_write(folder / "bad.obo", OBO + "\n" + "\n".join(bad)), prefix="T", source="T", report=report)
    for node in clean.nodes():
        assert node.id in kg and kg.node(node.id).name == node.name
    assert set(clean.edges()) <= set(kg.edges())
    assert report.total == len(bad)
