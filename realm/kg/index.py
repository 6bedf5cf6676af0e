"""The vector index of KG names and synonyms, behind one narrow protocol.

:class:`VectorIndex` is all the linker needs; :class:`ChromaIndex` is the real adapter (a local
``PersistentClient`` under the cache by default, an ``HttpClient`` when a host is given: that is
how users scale past one machine) and :class:`NumpyIndex` the in-repo fake (exact cosine), used
by tests and to measure Chroma's recall.

:func:`build_index` fills an index from a :class:`~realm.kg.graph.KnowledgeGraph`; it is
resumable, incremental, tied to the KG version and optionally scoped to some node types, which
a later build extends (see its docstring). :func:`check_index` refuses a stale index or one
whose scope lacks a type asked for.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from realm.cache import config_hash, stage_dir
from realm.errors import ConfigError, Interrupted, KGError
from realm.kg.embedders import TextEmbedder
from realm.kg.graph import KnowledgeGraph
from realm.resources.words import is_stop_surface

__all__ = [
    "Hits",
    "VectorIndex",
    "NumpyIndex",
    "ChromaIndex",
    "IndexEntry",
    "BuildReport",
    "index_entries",
    "build_index",
    "check_index",
    "indexed_types",
    "default_index_dir",
]

log = logging.getLogger(__name__)

#: Collection-metadata keys that tie an index to one KG version and one embedder.
META_VERSION, META_EMBEDDER, META_KG = "realm_kg_version", "realm_embedder", "realm_kg_name"
#: Collection-metadata key of the node types indexed (comma-separated); absent: every type.
META_TYPES = "realm_types"
_BUILDING = "building:"  # version prefix while a build is under way: never a valid version


@dataclass(frozen=True)
class Hits:
    """The nearest entries of one query, best first (score = cosine similarity)."""

    ids: list[str]
    scores: list[float]
    metadatas: list[dict[str, Any]]


@runtime_checkable
class VectorIndex(Protocol):
    """What the index builder and the linker need from a vector store."""

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert entries (an id already present is overwritten)."""

    def query(
        self, vectors: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[Hits]:
        """The ``k`` nearest entries of each row of ``vectors`` (optionally metadata-filtered)."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove entries by id (unknown ids are ignored)."""

    def count(self) -> int:
        """Number of entries."""

    def ids(self) -> set[str]:
        """Every entry id present."""

    def get_meta(self) -> dict[str, Any]:
        """The index's own metadata (KG version, embedder id)."""

    def set_meta(self, meta: Mapping[str, Any]) -> None:
        """Replace the index's own metadata."""


def _matches(meta: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Chroma's ``where`` subset: ``{f: v}``, ``{f: {"$eq"|"$ne"|"$in": v}}``, ``$and``."""
    for key, cond in where.items():
        if key == "$and":
            if not all(_matches(meta, c) for c in cond):
                return False
            continue
        value = meta.get(key)
        if isinstance(cond, Mapping):
            ((op, arg),) = cond.items()
            ok = {"$eq": value == arg, "$ne": value != arg, "$in": value in arg}.get(op)
            if ok is None:
                raise ConfigError(f"NumpyIndex does not support the where operator {op!r}")
            if not ok:
                return False
        elif value != cond:
            return False
    return True


class NumpyIndex:
    """Exact cosine search in memory: the fake :class:`VectorIndex` and the recall reference."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        self._meta: dict[str, Any] = {}
        self._matrix: tuple[list[str], np.ndarray] | None = None  # rebuilt lazily after writes

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        for i, v, m in zip(ids, np.asarray(vectors, dtype=np.float32), metadatas, strict=True):
            self._rows[i] = (v / max(float(np.linalg.norm(v)), 1e-12), dict(m))
        self._matrix = None

    def query(
        self, vectors: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[Hits]:
        if self._matrix is None:
            keys = list(self._rows)
            mat = (
                np.stack([self._rows[i][0] for i in keys]) if keys else np.zeros((0, 1), np.float32)
            )
            self._matrix = (keys, mat)
        keys, mat = self._matrix
        allowed = np.array([where is None or _matches(self._rows[i][1], where) for i in keys], bool)
        out = []
        for q in np.atleast_2d(np.asarray(vectors, dtype=np.float32)):
            scores = np.where(allowed, mat @ q, -np.inf) if len(keys) else np.zeros(0)
            top = np.argsort(-scores, kind="stable")[: min(k, int(allowed.sum()))]
            out.append(
                Hits(
                    [keys[j] for j in top],
                    [float(scores[j]) for j in top],
                    [dict(self._rows[keys[j]][1]) for j in top],
                )
            )
        return out

    def delete(self, ids: Sequence[str]) -> None:
        for i in ids:
            self._rows.pop(i, None)
        self._matrix = None

    def count(self) -> int:
        return len(self._rows)

    def ids(self) -> set[str]:
        return set(self._rows)

    def get_meta(self) -> dict[str, Any]:
        return dict(self._meta)

    def set_meta(self, meta: Mapping[str, Any]) -> None:
        self._meta = dict(meta)

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The stored (normalised) vectors and metadata of ``ids``: copies an index elsewhere."""
        return np.stack([self._rows[i][0] for i in ids]), [dict(self._rows[i][1]) for i in ids]


def default_index_dir(kg_name: str, embedder_id: str) -> os.PathLike:
    """Cache folder of the local index of one KG name and embedder (all its versions share it,
    which is what lets a rebuild after a KG update be incremental)."""
    return stage_dir("index", config_hash(kg_name, embedder_id))


def _collection_name(kg_name: str, embedder_id: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{kg_name}-{embedder_id}").strip("-_")[:48]
    return f"realm-{slug}-{config_hash(kg_name, embedder_id, length=8)}"


class ChromaIndex:
    """A Chroma collection in cosine space; local by default, a server when ``host`` is set."""

    def __init__(
        self,
        collection: str,
        *,
        path: str | os.PathLike | None = None,
        host: str | None = None,
        port: int = 8000,
        ef_search: int = 200,
    ) -> None:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if host is not None:
            self._client = chromadb.HttpClient(host=host, port=port, settings=settings)
        elif path is not None:
            self._client = chromadb.PersistentClient(path=str(path), settings=settings)
        else:
            raise ConfigError("ChromaIndex needs a local path or a server host")
        # ef_search 200 (Chroma's default is 100) buys recall@10 >= 0.99 for a few ms per query.
        # ef_construction 100 (Chroma's default) rather than 200 nearly halves insertion CPU
        # (13.8 vs 22-25 s per 20k HPO vectors) for recall@10 0.997 instead of 0.999 (1,000
        # perturbed HPO vectors against exact cosine; benchmarks in BENCHMARKS.md).
        config = {"hnsw": {"space": "cosine", "ef_construction": 100, "ef_search": ef_search}}
        # embedding_function=None: Chroma's default function downloads a model; we pass vectors.
        self._col = self._client.get_or_create_collection(
            collection,
            configuration=config,
            embedding_function=None,  # type: ignore[arg-type]
        )
        self._max_batch = int(self._client.get_max_batch_size())

    @classmethod
    def for_kg(
        cls,
        kg_name: str,
        embedder_id: str,
        *,
        host: str | None = None,
        port: int = 8000,
        path: str | os.PathLike | None = None,
    ) -> ChromaIndex:
        """The index of one KG name and embedder: under the cache, or on a server."""
        if host is None and path is None:
            path = default_index_dir(kg_name, embedder_id)
        return cls(_collection_name(kg_name, embedder_id), path=path, host=host, port=port)

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        ids, metas = list(ids), [dict(m) for m in metadatas]
        for s in range(0, len(ids), self._max_batch):
            e = s + self._max_batch
            self._col.upsert(
                ids=ids[s:e], embeddings=np.asarray(vectors[s:e], np.float32), metadatas=metas[s:e]
            )

    def query(
        self, vectors: np.ndarray, k: int, where: Mapping[str, Any] | None = None
    ) -> list[Hits]:
        n = self.count()
        queries = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if n == 0:
            return [Hits([], [], []) for _ in queries]
        out: list[Hits] = []
        # Chroma fetches all hits' metadata in one SQL statement: too many queries x k at once
        # overflow SQLite's variable limit, so large batches go in chunks.
        step = max(1, 2000 // max(1, k))
        for s in range(0, len(queries), step):
            res = self._col.query(
                query_embeddings=queries[s : s + step],
                n_results=min(k, n),
                where=dict(where) if where else None,
                include=["metadatas", "distances"],
            )
            out += [
                Hits(list(ids), [1.0 - float(d) for d in dists], [dict(m) for m in metas])
                for ids, dists, metas in zip(
                    res["ids"], res["distances"], res["metadatas"], strict=True
                )
            ]
        return out

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for s in range(0, len(ids), self._max_batch):
            self._col.delete(ids=ids[s : s + self._max_batch])

    def count(self) -> int:
        return int(self._col.count())

    def ids(self) -> set[str]:
        out: set[str] = set()
        page = 10_000
        for offset in range(0, self.count(), page):
            out.update(self._col.get(include=[], limit=page, offset=offset)["ids"])
        return out

    def get(self, ids: Sequence[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """The stored vectors and metadata of ``ids``, in that order (for recall checks)."""
        ids = list(ids)
        vectors, metas = [], []
        for s in range(0, len(ids), self._max_batch):
            res = self._col.get(
                ids=ids[s : s + self._max_batch], include=["embeddings", "metadatas"]
            )
            pos = {i: j for j, i in enumerate(res["ids"])}
            order = [pos[i] for i in ids[s : s + self._max_batch]]
            vectors.append(np.asarray(res["embeddings"], dtype=np.float32)[order])
            metas += [dict(res["metadatas"][j]) for j in order]
        return (np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32)), metas

    def get_meta(self) -> dict[str, Any]:
        return dict(self._col.metadata or {})

    def set_meta(self, meta: Mapping[str, Any]) -> None:
        self._col.modify(metadata=dict(meta))


@dataclass(frozen=True)
class IndexEntry:
    """One indexed string: a node's name or one of its synonyms."""

    id: str
    node_id: str
    text: str
    type: str
    source: str
    is_synonym: bool

    def metadata(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "text": self.text,
            "type": self.type,
            "source": self.source,
            "is_synonym": self.is_synonym,
        }


def index_entries(kg: KnowledgeGraph, embedder_id: str, refused: dict[str, int] | None = None,
                  types: Collection[str] | None = None) -> list[IndexEntry]:
    """One entry per distinct (node, string), keyed by a hash of (node id, string, embedder id):
    an unchanged string keeps its key across KG versions, so it is never re-embedded.

    ``types``: only nodes of these types (None: every node). Stop-word surfaces
    (:func:`realm.resources.words.is_stop_surface`: "was", the gene WAS) are never indexed;
    ``refused["stop_word"]`` counts them."""
    entries: list[IndexEntry] = []
    refused = {} if refused is None else refused
    for node in kg.nodes():
        if types is not None and node.type not in types:
            continue
        seen: set[str] = set()
        for i, text in enumerate((node.name, *node.synonyms)):
            text = " ".join(text.split())
            if not text or text.lower() in seen:
                continue
            if is_stop_surface(text):
                refused["stop_word"] = refused.get("stop_word", 0) + 1
                continue
            seen.add(text.lower())
            key = config_hash(node.id, text, embedder_id, length=24)
            entries.append(IndexEntry(key, node.id, text, node.type, node.source, i > 0))
    return entries


@dataclass
class BuildReport:
    """What :func:`build_index` did."""

    entries: int = 0
    added: int = 0
    skipped: int = 0
    deleted: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def strings_per_s(self) -> float:
        return self.added / self.seconds if self.seconds else 0.0


def build_index(
    kg: KnowledgeGraph,
    embedder: TextEmbedder,
    index: VectorIndex,
    *,
    types: Iterable[str] | None = None,
    batch_size: int = 2048,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> BuildReport:
    """Embed every node name and synonym of ``kg`` (``types``: of nodes of these types) into
    ``index``.

    Scoped: with ``types``, the index covers those types plus the ones it already covered, so a
    later build with other types extends the same collection instead of rebuilding it;
    :func:`check_index` refuses a query for types outside the scope.

    Resumable: each batch is committed as it is embedded and entries already present are
    skipped, so an interrupted build continues where it stopped. Incremental: entries are keyed
    by (node id, string, embedder id), so after a KG update only new or changed strings are
    embedded and entries no longer in the KG are deleted. Versioned: the index records the KG
    version and embedder id only once complete; :func:`check_index` refuses anything else.

    ``stop`` (set by another thread) ends the build after the chunk being embedded, raising
    :class:`~realm.errors.Interrupted`; what was committed stays for the next build.
    """
    start = time.perf_counter()
    meta = index.get_meta()
    if meta.get(META_EMBEDDER) not in (None, embedder.model_id):
        raise KGError(
            f"the index holds vectors of embedder {meta[META_EMBEDDER]!r}, "
            f"not {embedder.model_id!r}; "
            "use a separate index per embedder"
        )
    scope = _kg_types(kg) if types is None else _known_types(kg, types) | _previous_scope(meta, kg)
    refused: dict[str, int] = {}
    entries = index_entries(kg, embedder.model_id, refused, scope)
    present = index.ids()
    wanted = {e.id for e in entries}
    # Mark the index incomplete first: a build killed from here on leaves a refused index.
    index.set_meta(
        {
            **meta,
            META_VERSION: _BUILDING + kg.version,
            META_EMBEDDER: embedder.model_id,
            META_KG: kg.name,
            META_TYPES: ",".join(sorted(scope)),
        }
    )
    stale = sorted(present - wanted)
    if stale:
        index.delete(stale)
    todo = [e for e in entries if e.id not in present]
    # A string shared by many nodes (ICD-9 and ICD-10 titles, drug synonyms) is embedded once.
    by_text: dict[str, list[IndexEntry]] = {}
    for e in todo:
        by_text.setdefault(e.text, []).append(e)
    # Sorted by length over the whole KG, not per chunk: every batch then pads to almost
    # nothing (20 % fewer CPU-seconds per string than chunks in KG order, measured).
    texts = sorted(by_text, key=len)
    bar = tqdm(total=len(todo), desc=f"index {kg.name}", unit="str", disable=not progress)
    # Insertion of chunk i overlaps embedding of chunk i+1 (one writer thread: chunks are
    # committed in order, so a resumed build still finds every finished chunk present).
    with ThreadPoolExecutor(1, thread_name_prefix="realm-index") as writer:
        pending: Future[None] | None = None
        for s in range(0, len(texts), batch_size):
            if stop is not None and stop.is_set():
                bar.close()
                raise Interrupted(f"index build of {kg.name} stopped; the next build resumes it")
            chunk = texts[s : s + batch_size]
            vectors = embedder.embed(chunk, batch_size=64)
            rows = [(e, v) for text, v in zip(chunk, vectors, strict=True) for e in by_text[text]]
            if pending is not None:
                pending.result()  # re-raises a failed insertion before more work is queued
            pending = writer.submit(
                index.add,
                [e.id for e, _ in rows],
                np.stack([v for _, v in rows]),
                [e.metadata() for e, _ in rows],
            )
            pending.add_done_callback(lambda _f, n=len(rows): bar.update(n))
        if pending is not None:
            pending.result()
    bar.close()
    index.set_meta({**index.get_meta(), META_VERSION: kg.version})
    report = BuildReport(
        len(entries), len(todo), len(entries) - len(todo), len(stale), time.perf_counter() - start,
        extra={"refused": refused, "types": sorted(scope)},
    )
    log.info(
        "index of %s (version %s, types %s): %d entries, %d embedded, %d kept, %d deleted, "
        "%d stop-word surfaces refused in %.1fs",
        kg.name,
        kg.version,
        ",".join(sorted(scope)),
        report.entries,
        report.added,
        report.skipped,
        report.deleted,
        refused.get("stop_word", 0),
        report.seconds,
    )
    return report


def _kg_types(kg: KnowledgeGraph) -> frozenset[str]:
    return frozenset(n.type for n in kg.nodes())


def _known_types(kg: KnowledgeGraph, types: Iterable[str]) -> frozenset[str]:
    """``types`` as a set, refusing a type no node of ``kg`` has (a typo would index nothing)."""
    wanted, known = frozenset(types), _kg_types(kg)
    if not wanted or wanted - known:
        raise ConfigError(
            f"KG {kg.name!r} has no node type {sorted(wanted - known) or '(none given)'}; "
            f"its types: {', '.join(sorted(known))}"
        )
    return wanted


def _previous_scope(meta: Mapping[str, Any], kg: KnowledgeGraph) -> frozenset[str]:
    """Types an earlier (finished or interrupted) build of this index covered: empty for a new
    index, every type for one built before scopes were recorded."""
    if META_VERSION not in meta:
        return frozenset()
    recorded = meta.get(META_TYPES)
    if recorded is None:
        return _kg_types(kg)
    return frozenset(t for t in str(recorded).split(",") if t) & _kg_types(kg)


def indexed_types(index: VectorIndex, kg: KnowledgeGraph) -> frozenset[str]:
    """The node types of ``kg`` whose names ``index`` holds (its scope)."""
    return _previous_scope(index.get_meta(), kg)


def check_index(
    index: VectorIndex,
    kg: KnowledgeGraph,
    embedder: TextEmbedder,
    types: Iterable[str] | None = None,
) -> frozenset[str]:
    """Raise :class:`KGError` unless ``index`` is complete for this KG version and embedder and
    covers ``types`` (None: whatever scope it was built with); returns its scope."""
    meta = index.get_meta()
    version, model = meta.get(META_VERSION), meta.get(META_EMBEDDER)
    hint = f"run `realm kg index --kg {kg.name}` to (re)build it"
    if version is None or index.count() == 0:
        raise KGError(f"no index of KG {kg.name!r} found; {hint}")
    if str(version).startswith(_BUILDING):
        raise KGError(
            f"the index of KG {kg.name!r} is incomplete (a build is running or was interrupted); {hint}"
        )
    if version != kg.version:
        raise KGError(
            f"the index of KG {kg.name!r} is stale: built for version {version}, "
            f"the KG is version {kg.version}; {hint}"
        )
    if model != embedder.model_id:
        raise KGError(
            f"the index of KG {kg.name!r} holds vectors of {model!r}, not "
            f"{embedder.model_id!r}; {hint} --embedder ..."
        )
    scope = _previous_scope(meta, kg)
    missing = sorted(set(types) - scope) if types is not None else []
    if missing:
        raise KGError(
            f"the index of KG {kg.name!r} covers node types {', '.join(sorted(scope))}, "
            f"not {', '.join(missing)}; run `realm kg index --kg {kg.name} --types "
            f"{','.join(missing)}` to add them"
        )
    return scope
