"""Precise names in the lexicon: symbols only as written, no stop-word terms, genes opt-in."""

from __future__ import annotations

from realm.extract.lexicon import Lexicon, is_symbol
from realm.kg.graph import KnowledgeGraph
from realm.pipeline.extract import ExtractConfig, _extractor
from realm.records import Node
from realm.resources.words import is_stop_surface

NOTE = "Pt was given nebs; WAS mutation known. NEB variant. Hx of pin prick, PIN on biopsy, Fever."
NODES = [
    Node("GENE:WAS", "WAS", "gene"),
    Node("GENE:NEB", "NEB", "gene"),
    Node("GENE:CA", "CA", "gene"),
    Node("X:PIN", "Prostatic intraepithelial neoplasia", "disease", ("PIN",)),
    Node("HP:0001945", "Fever", "phenotype", ("all", "Not")),
]


def _found(lexicon: Lexicon, text: str = NOTE) -> list[tuple[str, str]]:
    return [(text[m.start:m.end], t.node_id) for m in lexicon.match(text) for t in m.terms]


def test_gene_symbols_and_short_codes_match_only_as_written() -> None:
    found = _found(Lexicon.from_nodes(NODES))
    assert ("NEB", "GENE:NEB") in found and ("PIN", "X:PIN") in found
    assert ("nebs", "GENE:NEB") not in found
    assert not any(node == "GENE:WAS" for _, node in found)  # a stop word even as written
    assert ("pin", "X:PIN") not in found
    assert ("Fever", "HP:0001945") in found  # an ordinary name still matches in any case


def test_stop_word_surfaces_and_short_symbols_are_refused_and_counted() -> None:
    refused: dict[str, int] = {}
    lexicon = Lexicon.from_nodes(NODES, refused=refused)
    assert refused == {"stop_word": 3, "short_symbol": 1}  # WAS, all, Not; CA
    assert _found(lexicon, "all of it, not CA, ca") == []


def test_symbol_and_stop_word_rules() -> None:
    assert is_symbol("WAS", "gene") and is_symbol("hla-b", "gene")  # every gene surface
    assert is_symbol("HLA-B", "disease") and is_symbol("C3", "phenotype")
    assert not is_symbol("Fever", "phenotype") and not is_symbol("COPDXYZ", "disease")
    assert is_stop_surface(" Was ") and is_stop_surface("ALL") and not is_stop_surface("was seen")


def test_extraction_leaves_genes_out_unless_configured() -> None:
    kg = KnowledgeGraph.from_nodes_edges(NODES, [], name="names")
    _, default = _extractor(ExtractConfig(progress=False), kg)
    assert "gene" not in default["lexicon_types"] and "disease" in default["lexicon_types"]
    extractor, chosen = _extractor(ExtractConfig(types=("gene",), progress=False), kg)
    assert chosen["lexicon_types"] == ["gene"]
    assert {m.node_id for m in extractor.extract(NOTE)} == {"GENE:NEB"}
