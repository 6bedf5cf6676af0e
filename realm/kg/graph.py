"""The knowledge graph: typed nodes and typed edges on a networkx MultiDiGraph.

Node ids are CURIEs, prefix then local code: ``HP:0000218``, ``ICD10CM:I50.1``,
``ICD9CM:428.0``, ``OMIM:101600``, ``ORPHA:558``, ``MESH:D006333``, ``DRUG:<slug>``,
``GENE:<symbol>``, ``NCBIGene:<id>``; custom KGs may use any prefix. Every node carries
the fields of :class:`realm.records.Node`; every edge a ``relation`` and a ``source``.

Concepts: nodes joined by ``same_as`` edges denote one concept (the connected components of
those edges); :meth:`KnowledgeGraph.concept_of` names a node's concept by its representative
node id, :meth:`KnowledgeGraph.concept_codes` lists every code of a concept. A KG without
``same_as`` edges (most user KGs) has one concept per node.

The graph's :attr:`KnowledgeGraph.version` is a content hash of all nodes and edges: caches
(index, embeddings) and checkpoints record it, so a stale artefact is detected, never used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import fields
from functools import cached_property
from pathlib import Path

import networkx as nx

from realm.cache import atomic_path
from realm.errors import KGError
from realm.records import Node

__all__ = ["KnowledgeGraph", "Edge", "SAME_AS"]

Edge = tuple[str, str, str, str]  # (source node, target node, relation, source vocabulary)

#: The relation that joins two nodes into one concept.
SAME_AS = "same_as"
#: Id prefixes in the order a concept's representative is chosen (then the smallest id):
#: HPO and MeSH carry definitions and the most synonyms; ICD codes are billing categories.
_REPRESENTATIVE_PREFIXES = ("HP", "MESH", "OMIM", "ORPHA", "DECIPHER", "DRUG", "ATC", "ICD10CM", "ICD9CM")


def _representative_key(node_id: str) -> tuple[int, str]:
    prefix = node_id.partition(":")[0]
    rank = _REPRESENTATIVE_PREFIXES.index(prefix) if prefix in _REPRESENTATIVE_PREFIXES else len(_REPRESENTATIVE_PREFIXES)
    return rank, node_id


_NODE_FIELDS = tuple(f.name for f in fields(Node))


class KnowledgeGraph:
    """Typed nodes and edges with a stable content hash.

    Build one with :meth:`add_node` / :meth:`add_edge` (or a loader in ``realm.kg.loaders``),
    then treat it as read-only: :attr:`version` is computed once and cached.
    """

    def __init__(self, name: str = "kg") -> None:
        self.name = name
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        #: old id -> current id (OBO alt_id / replaced_by, merged codes); see :meth:`resolve`
        self.aliases: dict[str, str] = {}

    # -- building ---------------------------------------------------------------------------
    def add_node(self, node: Node, *, replace: bool = False) -> None:
        """Add ``node``; a second node with the same id is an error unless ``replace``."""
        if not node.id or not node.id.strip():
            raise KGError("node with an empty id")
        if not node.name or not node.name.strip():
            raise KGError(f"node {node.id!r} has an empty name")
        if node.id in self.graph and not replace:
            raise KGError(f"duplicate node id {node.id!r}")
        self.graph.add_node(node.id, node=node)
        self._changed()

    def add_edge(self, src: str, dst: str, relation: str, source: str = "") -> None:
        """Add a typed edge between two existing nodes (unknown ends are an error)."""
        for end in (src, dst):
            if end not in self.graph:
                raise KGError(f"edge {src!r} -[{relation}]-> {dst!r} names unknown node {end!r}")
        if not relation:
            raise KGError(f"edge {src!r} -> {dst!r} has no relation")
        # The key makes (src, dst, relation) unique: the same fact from two loads is one edge.
        self.graph.add_edge(src, dst, key=relation, relation=relation, source=source)
        self._changed()

    def remove_edge(self, src: str, dst: str, relation: str) -> None:
        """Remove one typed edge (a KGError when it does not exist)."""
        if not self.graph.has_edge(src, dst, key=relation):
            raise KGError(f"no edge {src!r} -[{relation}]-> {dst!r} to remove")
        self.graph.remove_edge(src, dst, key=relation)
        self._changed()

    def add_alias(self, old_id: str, node_id: str) -> None:
        """Record that ``old_id`` (an alternative or obsolete id) now means ``node_id``."""
        if node_id not in self.graph:
            raise KGError(f"alias {old_id!r} points to unknown node {node_id!r}")
        if old_id in self.graph:
            raise KGError(f"alias {old_id!r} is itself a node id")
        self.aliases[old_id] = node_id
        self._changed()

    def resolve(self, node_id: str) -> str:
        """The current id for ``node_id`` (itself when it is a node, else via aliases).

        Raises :class:`KGError` when the id is neither a node nor a known alias.
        """
        if node_id in self.graph:
            return node_id
        seen = {node_id}
        current = self.aliases.get(node_id)
        while current is not None and current not in self.graph:
            if current in seen:
                raise KGError(f"alias cycle at {node_id!r}")
            seen.add(current)
            current = self.aliases.get(current)
        if current is None:
            raise KGError(f"unknown node id {node_id!r} in KG {self.name!r}")
        return current

    def _changed(self) -> None:
        # Content changed: the cached hash and concept table are stale.
        self.__dict__.pop("version", None)
        self.__dict__.pop("_concepts", None)

    # -- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.graph

    def node(self, node_id: str) -> Node:
        """The node with id ``node_id`` (:class:`KGError` if absent)."""
        try:
            return self.graph.nodes[node_id]["node"]
        except KeyError:
            raise KGError(f"unknown node id {node_id!r} in KG {self.name!r}") from None

    def nodes(self, type: str | None = None) -> Iterator[Node]:
        """All nodes, optionally only those of one type, in id order."""
        for node_id in sorted(self.graph.nodes):
            node = self.graph.nodes[node_id]["node"]
            if type is None or node.type == type:
                yield node

    def edges(self) -> Iterator[Edge]:
        """All edges as (src, dst, relation, source), sorted."""
        rows = ((u, v, d["relation"], d.get("source", "")) for u, v, d in self.graph.edges(data=True))
        yield from sorted(rows)

    def neighbors(self, node_id: str, relation: str | None = None) -> list[tuple[str, str]]:
        """(relation, neighbor id) over out- and in-edges (in-edges as ``~relation``)."""
        self.node(node_id)
        out = [(d["relation"], v) for _, v, d in self.graph.out_edges(node_id, data=True)]
        out += [("~" + d["relation"], u) for u, _, d in self.graph.in_edges(node_id, data=True)]
        if relation is not None:
            out = [(r, n) for r, n in out if r == relation]
        return sorted(out)

    # -- concepts ---------------------------------------------------------------------------
    @cached_property
    def _concepts(self) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        """(node id -> concept id, concept id -> codes) for nodes joined by ``same_as``."""
        joined = nx.Graph()
        joined.add_edges_from((u, v) for u, v, key in self.graph.edges(keys=True) if key == SAME_AS)
        of: dict[str, str] = {}
        codes: dict[str, tuple[str, ...]] = {}
        for component in nx.connected_components(joined):
            ordered = sorted(component, key=_representative_key)
            concept = ordered[0]
            codes[concept] = (concept, *sorted(ordered[1:]))
            of.update((node_id, concept) for node_id in component)
        return of, codes

    def concept_of(self, node_id: str) -> str:
        """The concept id of ``node_id`` (an alias resolves first): the representative node
        of its ``same_as`` component, or the node itself when it is joined to nothing."""
        node_id = self.resolve(node_id)
        return self._concepts[0].get(node_id, node_id)

    def concept_codes(self, concept_id: str) -> tuple[str, ...]:
        """Every node id of a concept, sorted, the representative first (``concept_id`` may be
        any of its nodes)."""
        concept = self.concept_of(concept_id)
        return self._concepts[1].get(concept, (concept,))

    def concepts(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(concept id, codes) for every concept, in concept-id order."""
        of, codes = self._concepts
        for node_id in sorted(self.graph.nodes):
            concept = of.get(node_id, node_id)
            if concept == node_id:
                yield concept, codes.get(concept, (concept,))

    @cached_property
    def version(self) -> str:
        """Content hash of every node, edge and alias: the KG version."""
        # Streamed into one sha256 rather than json-dumping the whole graph at once: the
        # default KG has ~400k edges, and this runs on every load.
        h = hashlib.sha256()
        for n in self.nodes():
            row = [n.id, n.name, n.type, list(n.synonyms), n.definition, n.source, list(n.xrefs)]
            h.update(json.dumps(row, ensure_ascii=False).encode())
            h.update(b"\n")
        h.update(b"--edges--\n")
        for edge in self.edges():
            h.update("\t".join(edge).encode())
            h.update(b"\n")
        h.update(b"--aliases--\n")
        for old, new in sorted(self.aliases.items()):
            h.update(f"{old}\t{new}\n".encode())
        return h.hexdigest()[:16]

    def stats(self) -> dict[str, dict[str, int]]:
        """Node counts by type and by source, edge counts by relation and by source."""
        nodes = list(self.nodes())
        edges = list(self.edges())
        return {
            "nodes_by_type": dict(Counter(n.type for n in nodes).most_common()),
            "nodes_by_source": dict(Counter(n.source for n in nodes).most_common()),
            "edges_by_relation": dict(Counter(e[2] for e in edges).most_common()),
            "edges_by_source": dict(Counter(e[3] for e in edges).most_common()),
            "totals": {"nodes": len(nodes), "edges": len(edges)},
            **self.concept_stats(),
        }

    def concept_stats(self) -> dict[str, dict[str, int]]:
        """Concept count, codes per concept (size -> concepts), joins by evidence (the part
        of a ``same_as`` edge's source before ':')."""
        sizes = Counter(len(codes) for _, codes in self.concepts())
        joins = Counter(d.get("source", "").partition(":")[0]
                        for _, _, key, d in self.graph.edges(keys=True, data=True) if key == SAME_AS)
        return {
            "concepts": {"concepts": sum(sizes.values()), "joined": sum(n for k, n in sizes.items() if k > 1)},
            "codes_per_concept": {str(k): sizes[k] for k in sorted(sizes)},
            "joins_by_evidence": dict(joins.most_common()),
        }

    # -- composing --------------------------------------------------------------------------
    def merge(self, other: KnowledgeGraph, *, replace: bool = False) -> None:
        """Add every node and edge of ``other`` (duplicate ids are an error unless ``replace``)."""
        for node in other.nodes():
            if node.id in self.graph and not replace:
                raise KGError(f"duplicate node id {node.id!r} while merging {other.name!r}")
            self.add_node(node, replace=True)
        for src, dst, relation, source in other.edges():
            self.add_edge(src, dst, relation, source)
        for old, new in other.aliases.items():
            if old not in self.graph:
                self.aliases[old] = new

    @classmethod
    def from_networkx(cls, graph: nx.Graph, name: str = "kg") -> KnowledgeGraph:
        """Wrap any networkx graph whose nodes carry ``name`` and ``type`` attributes
        (optional: ``synonyms``, ``definition``, ``source``, ``xrefs``) and whose edges
        carry ``relation`` (default ``related_to``) and optional ``source``."""
        kg = cls(name)
        for node_id, data in graph.nodes(data=True):
            if "name" not in data or "type" not in data:
                raise KGError(f"networkx node {node_id!r} lacks a 'name' or 'type' attribute")
            kg.add_node(
                Node(
                    id=str(node_id),
                    name=str(data["name"]),
                    type=str(data["type"]),
                    synonyms=tuple(data.get("synonyms", ())),
                    definition=str(data.get("definition", "")),
                    source=str(data.get("source", name)),
                    xrefs=tuple(data.get("xrefs", ())),
                )
            )
        for u, v, data in graph.edges(data=True):
            kg.add_edge(str(u), str(v), str(data.get("relation", "related_to")), str(data.get("source", name)))
        return kg

    # -- disk -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the graph as gzipped JSON (nodes, edges, name, version), atomically."""
        path = Path(path)
        payload = {
            "name": self.name,
            "version": self.version,
            # the fields by name (dataclasses.asdict deep-copies every tuple: seconds here)
            "nodes": [{f: getattr(n, f) for f in _NODE_FIELDS} for n in self.nodes()],
            "edges": [list(e) for e in self.edges()],
            "aliases": dict(sorted(self.aliases.items())),
        }
        with atomic_path(path) as tmp:
            # level 1: 3.5 s less than the default 9 for the default KG, the file 5 MB instead of 4
            with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as fh:
                json.dump(payload, fh)
        return path

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = False) -> KnowledgeGraph:
        """Read a graph written by :meth:`save`.

        With ``verify`` the version is recomputed from the content and must match the stored
        one (use it for files edited or copied by hand).
        """
        path = Path(path)
        if not path.is_file():
            raise KGError(f"no knowledge graph at {path}; run `realm kg build`")
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            payload = json.load(fh)
        kg = cls(payload.get("name", path.stem))
        # Bulk insertion (one validation pass, then networkx's add_*_from): adding 400k
        # edges one call at a time made loading the default KG take ~15 s of CPU.
        nodes = []
        for raw in payload["nodes"]:
            raw["synonyms"] = tuple(raw.get("synonyms", ()))
            raw["xrefs"] = tuple(raw.get("xrefs", ()))
            node = Node(**raw)
            if not node.id or not node.name:
                raise KGError(f"{path}: node {node.id!r} has an empty id or name")
            nodes.append(node)
        ids = {n.id for n in nodes}
        if len(ids) != len(nodes):
            raise KGError(f"{path}: duplicate node ids")
        kg.graph.add_nodes_from((n.id, {"node": n}) for n in nodes)
        for src, dst, relation, _ in payload["edges"]:
            if src not in ids or dst not in ids or not relation:
                raise KGError(f"{path}: edge {src!r} -[{relation}]-> {dst!r} is invalid")
        kg.graph.add_edges_from(
            (src, dst, relation, {"relation": relation, "source": source})
            for src, dst, relation, source in payload["edges"]
        )
        for old, new in payload.get("aliases", {}).items():
            kg.add_alias(old, new)
        stored = payload.get("version")
        if stored and not verify:
            # Trusted: our own atomically written cache, and gzip's CRC already catches a
            # damaged file; recomputing the hash of ~500k rows costs seconds on every load.
            kg.__dict__["version"] = stored
        elif stored and stored != kg.version:
            raise KGError(f"{path}: stored version {stored} does not match its content")
        return kg

    @staticmethod
    def from_nodes_edges(nodes: Iterable[Node], edges: Iterable[Edge], name: str = "kg") -> KnowledgeGraph:
        """Build a graph from node records and (src, dst, relation, source) tuples."""
        kg = KnowledgeGraph(name)
        for node in nodes:
            kg.add_node(node)
        for src, dst, relation, source in edges:
            kg.add_edge(src, dst, relation, source)
        return kg
