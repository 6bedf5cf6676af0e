"""The generic KG exchange format: ``nodes.csv`` + ``edges.csv`` (read and write).

``nodes.csv`` (UTF-8, header row; id, name, type required)::

    id,name,type,synonyms,definition,source,xrefs
    SEPSIS:0001,Septic shock,disease,septic shock|shock due to sepsis,Sepsis with ...,SEPSIS,ICD10CM:R65.21

``edges.csv`` (source, target, relation required)::

    source,target,relation,source_vocab
    SEPSIS:0001,HP:0100806,has_phenotype,SEPSIS

``synonyms`` and ``xrefs`` are ``|``-separated. A row with the wrong number of fields is a
:class:`DataError` naming file and line; duplicate ids, empty names, ids with invisible or
control characters (a look-alike of another id), edges to unknown nodes, self-loops,
``is_a`` cycles and text needing normalization are counted in the :class:`LoadReport` (or
raised at once when it is strict).
"""

from __future__ import annotations

import csv
import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import networkx as nx

from realm.errors import DataError, KGError
from realm.kg.graph import KnowledgeGraph
from realm.kg.loaders.report import LoadReport
from realm.records import Node

__all__ = ["NODE_COLUMNS", "EDGE_COLUMNS", "load_tables", "write_tables", "read_csv_rows"]

NODE_COLUMNS = ("id", "name", "type", "synonyms", "definition", "source", "xrefs")
EDGE_COLUMNS = ("source", "target", "relation", "source_vocab")
_NODE_REQUIRED = ("id", "name", "type")
_EDGE_REQUIRED = ("source", "target", "relation")
SEP = "|"


def read_csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a headed CSV; a ragged row is a DataError with its line."""
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataError(f"cannot open ({exc.strerror})", path=path) from exc
    with fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError("empty file (no header row)", path=path) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"unreadable header ({exc})", path=path, row=1) from exc
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(f"missing required column(s) {missing}; header is {header}", path=path, row=1)
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise DataError(f"malformed CSV ({exc})", path=path, row=start) from exc
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise DataError(f"{len(values)} fields, the header has {len(header)}", path=path, row=start)
            yield start, dict(zip(header, values))


def _bad_id(node_id: str) -> str | None:
    """Why ``node_id`` cannot be an id: whitespace or an invisible/control character (a
    zero-width space makes a look-alike of another id); None when it is fine."""
    for char in node_id:
        category = unicodedata.category(char)
        if char.isspace() or category[0] == "C":
            return f"character U+{ord(char):04X} ({unicodedata.name(char, category)})"
    return None


def _split(value: str | None, report: LoadReport, what: str, path: Path, row: int) -> tuple[str, ...]:
    parts: list[str] = []
    for part in (value or "").split(SEP):
        cleaned = report.clean(part, what, path=path, row=row)
        if cleaned and cleaned not in parts:
            parts.append(cleaned)
    return tuple(parts)


def load_tables(
    nodes: str | os.PathLike,
    edges: str | os.PathLike | None = None,
    *,
    name: str | None = None,
    source: str = "",
    report: LoadReport | None = None,
) -> KnowledgeGraph:
    """Read ``nodes.csv`` (and ``edges.csv`` if given) into a KnowledgeGraph."""
    nodes_path = Path(nodes)
    report = report or LoadReport(str(nodes_path) + (f" + {Path(edges)}" if edges is not None else ""))
    kg = KnowledgeGraph(name or nodes_path.parent.name or "kg")
    for row_no, row in read_csv_rows(nodes_path, _NODE_REQUIRED):
        node_id = row["id"].strip()
        if not node_id:
            report.problem("empty id", "node row without an id; skipped", path=nodes_path, row=row_no)
            continue
        node_name = report.clean(row["name"], f"{node_id} name", path=nodes_path, row=row_no)
        node_type = row["type"].strip()
        if not node_name or not node_type:
            report.problem("empty name", f"node {node_id} has no name or type; skipped", path=nodes_path, row=row_no)
            continue
        bad = _bad_id(node_id)
        if bad:
            report.problem("invalid id", f"{node_id!r} contains {bad}; skipped", path=nodes_path, row=row_no)
            continue
        if node_id in kg:
            report.problem("duplicate id", f"{node_id} seen before; first kept", path=nodes_path, row=row_no)
            continue
        synonyms = tuple(s for s in _split(row.get("synonyms"), report, f"{node_id} synonym", nodes_path, row_no)
                         if s != node_name)
        kg.add_node(Node(
            id=node_id,
            name=node_name,
            type=node_type,
            synonyms=synonyms,
            definition=report.clean(row.get("definition") or "", f"{node_id} definition", path=nodes_path, row=row_no),
            source=(row.get("source") or "").strip() or source,
            xrefs=_split(row.get("xrefs"), report, f"{node_id} xref", nodes_path, row_no),
        ))
    if edges is not None:
        _load_edges(kg, Path(edges), source, report)
    report.log()
    return kg


def _load_edges(kg: KnowledgeGraph, path: Path, source: str, report: LoadReport) -> None:
    seen: set[tuple[str, str, str]] = set()
    is_a_rows: dict[tuple[str, str], int] = {}
    for row_no, row in read_csv_rows(path, _EDGE_REQUIRED):
        src, dst, relation = row["source"].strip(), row["target"].strip(), row["relation"].strip()
        unknown = [end for end in (src, dst) if end not in kg]
        if unknown:
            report.problem("edge to unknown node", f"{src} -[{relation}]-> {dst}: unknown {unknown}", path=path, row=row_no)
            continue
        if not relation:
            report.problem("empty relation", f"{src} -> {dst}; skipped", path=path, row=row_no)
            continue
        if src == dst:
            report.problem("self-loop", f"{src} -[{relation}]-> itself; skipped", path=path, row=row_no)
            continue
        if (src, dst, relation) in seen:
            report.problem("duplicate edge", f"{src} -[{relation}]-> {dst}", path=path, row=row_no)
            continue
        seen.add((src, dst, relation))
        if relation == "is_a":
            is_a_rows[(src, dst)] = row_no
        kg.add_edge(src, dst, relation, (row.get("source_vocab") or "").strip() or source)
    _break_is_a_cycles(kg, is_a_rows, path, report)


def _break_is_a_cycles(kg: KnowledgeGraph, rows: dict[tuple[str, str], int], path: Path,
                       report: LoadReport) -> None:
    """Ancestor walks must end: while the ``is_a`` edges hold a cycle, report it and drop
    its edge read last. One acyclicity check in the common case, whatever the KG's size."""
    while True:
        is_a = nx.subgraph_view(kg.graph, filter_edge=lambda u, v, k: k == "is_a")
        try:
            cycle = nx.find_cycle(is_a)
        except nx.NetworkXNoCycle:
            return
        src, dst, _ = max(cycle, key=lambda edge: rows.get((edge[0], edge[1]), 0))
        loop = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
        report.problem("is_a cycle", f"{loop}; dropped {src} -[is_a]-> {dst}", path=path,
                       row=rows.get((src, dst)))
        kg.remove_edge(src, dst, "is_a")


def write_tables(kg: KnowledgeGraph, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``kg`` as ``nodes.csv`` + ``edges.csv`` in ``folder`` (aliases are not written)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nodes_path, edges_path = folder / "nodes.csv", folder / "edges.csv"
    with nodes_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(NODE_COLUMNS)
        for node in kg.nodes():
            for item in node.synonyms + node.xrefs:
                if SEP in item:
                    raise KGError(f"node {node.id!r}: {item!r} contains {SEP!r}, which nodes.csv uses as separator")
            writer.writerow([node.id, node.name, node.type, SEP.join(node.synonyms), node.definition,
                             node.source, SEP.join(node.xrefs)])
    with edges_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(EDGE_COLUMNS)
        writer.writerows(kg.edges())
    return nodes_path, edges_path
