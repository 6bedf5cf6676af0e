"""Load an OBO ontology (HPO, MONDO, DOID, ...) into a :class:`KnowledgeGraph` via obonet.

Each live term becomes a node (name, synonyms, definition, xrefs); each ``is_a`` an edge
child -[is_a]-> parent. ``alt_id`` and the ``replaced_by`` of obsolete terms become
aliases, so an old id found in a note or a benchmark still resolves to the current term.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import obonet

from realm.errors import DataError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport
from realm.records import Node

__all__ = ["load_obo", "parse_obo_synonym", "parse_obo_def"]

log = logging.getLogger(__name__)

# OBO synonym: "text" SCOPE [optional type] [xrefs]; def: "text" [xrefs].
_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"')


def _unquote(value: str) -> str | None:
    match = _QUOTED.match(value.strip())
    if match is None:
        return None
    return re.sub(r"\\(.)", r"\1", match.group(1))


def parse_obo_synonym(value: str) -> tuple[str, str] | None:
    """``'"text" EXACT layperson []'`` -> ``("text", "EXACT")``; None if malformed."""
    text = _unquote(value)
    if text is None:
        return None
    rest = value.strip()[len(_QUOTED.match(value.strip()).group(0)) :].split()
    scope = rest[0] if rest and rest[0] in {"EXACT", "RELATED", "BROAD", "NARROW"} else "RELATED"
    return text, scope


def parse_obo_def(value: str) -> str | None:
    """``'"text." [refs]'`` -> ``"text."``; None if malformed."""
    return _unquote(value)


def load_obo(
    path: str | os.PathLike,
    *,
    prefix: str | None = None,
    node_type: str | Callable[[str, dict], str] = "phenotype",
    source: str | None = None,
    root: str | None = None,
    synonym_scopes: tuple[str, ...] = ("EXACT", "RELATED", "NARROW", "BROAD"),
    name: str | None = None,
    report: LoadReport | None = None,
) -> KnowledgeGraph:
    """Read an OBO file into a KnowledgeGraph.

    ``prefix`` keeps only terms whose id starts with ``prefix:`` (imported terms from other
    ontologies are dropped); ``root`` keeps only the root and its descendants;
    ``node_type`` is a type name or a function (term id, term data) -> type.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("OBO file not found", path=path)
    source = source or (prefix or path.stem).upper()
    report = report or LoadReport(str(path))
    try:
        graph = obonet.read_obo(str(path), ignore_obsolete=False)
    except (ValueError, KeyError, IndexError) as exc:
        raise DataError(f"not a readable OBO file ({exc})", path=path) from exc
    obsolete = {n for n, d in graph.nodes(data=True) if str(d.get("is_obsolete", "")).lower() == "true"}
    keep = _kept_terms(graph, obsolete, prefix, root, path)
    kg = KnowledgeGraph(name or source.lower())
    for term_id in sorted(keep):
        data = graph.nodes[term_id]
        node = _term_node(term_id, data, node_type, source, synonym_scopes, report, path)
        if node is not None:
            kg.add_node(node)
    # obonet stores is_a as edges child -> parent with key "is_a"; other relations are kept too.
    for child, parent, key in graph.edges(keys=True):
        if child in kg and parent in kg:
            kg.add_edge(child, parent, key, source)
        elif child in keep and not graph.nodes[parent]:
            # A parent with no [Term] stanza; parents merely outside ``root`` are by design.
            report.problem("edge to unknown or dropped term", f"{child} -[{key}]-> {parent}", path=path)
    _add_aliases(kg, graph, obsolete, report, path)
    report.log()
    log.info("loaded %s: %d terms, %d edges, %d aliases", path.name, len(kg), kg.graph.number_of_edges(), len(kg.aliases))
    return kg


def _kept_terms(graph: nx.MultiDiGraph, obsolete: set[str], prefix: str | None, root: str | None, path: Path) -> set[str]:
    # A node without data that an edge points to is (almost always) no [Term] stanza at all:
    # obonet made it for the edge's unknown end, which load_obo counts once as that edge's
    # problem, not a second time as a nameless term.
    keep = {n for n, data in graph.nodes(data=True)
            if (data or not graph.in_degree(n)) and n not in obsolete
            and (prefix is None or n.startswith(prefix + ":"))}
    if root is not None:
        if root not in graph:
            raise DataError(f"root term {root!r} not in the ontology", path=path)
        # Edges point child -> parent, so a root's descendants are its networkx ancestors.
        keep &= nx.ancestors(graph, root) | {root}
    return keep


def _term_node(
    term_id: str,
    data: dict,
    node_type: str | Callable[[str, dict], str],
    source: str,
    scopes: tuple[str, ...],
    report: LoadReport,
    path: Path,
) -> Node | None:
    name = report.clean(str(data.get("name", "")), f"{term_id} name", path=path)
    if not name:
        report.problem("empty name", f"term {term_id} has no name; skipped", path=path)
        return None
    synonyms: list[str] = []
    for raw in data.get("synonym", []):
        parsed = parse_obo_synonym(raw)
        if parsed is None:
            report.problem("malformed synonym", f"{term_id}: {raw!r}", path=path)
            continue
        text, scope = parsed
        text = report.clean(text, f"{term_id} synonym", path=path)
        if scope in scopes and text and text.lower() != name.lower() and text not in synonyms:
            synonyms.append(text)
    definition = ""
    if data.get("def"):
        parsed_def = parse_obo_def(data["def"])
        if parsed_def is None:
            report.problem("malformed def", f"{term_id}: {data['def'][:60]!r}", path=path)
        else:
            definition = report.clean(parsed_def, f"{term_id} def", path=path)
    kind = node_type(term_id, data) if callable(node_type) else node_type
    xrefs = tuple(sorted({str(x).split()[0] for x in data.get("xref", []) if str(x).strip()}))
    return Node(term_id, name, kind, tuple(synonyms), definition, source, xrefs)


def _add_aliases(kg: KnowledgeGraph, graph: nx.MultiDiGraph, obsolete: set[str], report: LoadReport, path: Path) -> None:
    for term_id in sorted(kg.graph.nodes):
        for alt in graph.nodes[term_id].get("alt_id", []):
            if alt in kg:
                report.problem("alt_id is a live term", f"{alt} (alt of {term_id})", path=path)
            else:
                kg.add_alias(alt, term_id)
    for term_id in sorted(obsolete):
        targets = graph.nodes[term_id].get("replaced_by", [])
        if len(targets) == 1 and targets[0] in kg and term_id not in kg.aliases:
            kg.add_alias(term_id, targets[0])
