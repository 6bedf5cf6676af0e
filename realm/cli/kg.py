"""``realm kg build|stats|index|query``: build and inspect a KG, index its names, link a string.

    realm kg build [--kg default] [--rebuild]
    realm kg stats [--kg hpo] [--json]
    realm kg index [--kg default] [--types disease,phenotype] [--embedder onnx] [--chroma-host H --chroma-port P]
    realm kg query "high arched palate" --type phenotype [--k 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from realm.kg.embedders import DEFAULT_EMBEDDER, EMBEDDERS
from realm.kg.graph import KnowledgeGraph

__all__ = ["register", "format_stats"]

log = logging.getLogger(__name__)


def _add_kg_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kg", default="default", help="built-in name (default, hpo) or a KG spec YAML path")


def _build(args: argparse.Namespace) -> int:
    from realm.kg.default import distinct_strings
    from realm.kg.spec import kg_cache_path, load_kg

    kg = load_kg(args.kg, rebuild=args.rebuild, progress=not args.no_progress)
    sys.stdout.write(
        f"KG {kg.name}: version {kg.version}\n"
        f"  nodes {len(kg)}  edges {kg.graph.number_of_edges()}  aliases {len(kg.aliases)}  "
        f"distinct strings {distinct_strings(kg)}\n"
        f"  path {kg_cache_path(args.kg)}\n"
    )
    return 0


def _table(title: str, counts: dict[str, int]) -> list[str]:
    width = max([len(title)] + [len(k) for k in counts])
    lines = [f"{title:<{width}}  {'count':>9}", f"{'-' * width}  {'-' * 9}"]
    lines += [f"{key or '(none)':<{width}}  {value:>9,}" for key, value in counts.items()]
    return lines + [""]


def format_stats(kg: KnowledgeGraph) -> str:
    """The stats of ``kg`` as plain-text tables."""
    from realm.kg.sources.synonyms import name_counts

    stats = {**kg.stats(), "names": name_counts(kg)}
    lines = [f"KG {kg.name}  version {kg.version}  nodes {stats['totals']['nodes']:,}  "
             f"edges {stats['totals']['edges']:,}  aliases {len(kg.aliases):,}", ""]
    for key, title in (("nodes_by_type", "node type"), ("nodes_by_source", "node source"),
                       ("edges_by_relation", "edge relation"), ("edges_by_source", "edge source"),
                       ("concepts", "concepts"), ("codes_per_concept", "codes per concept"),
                       ("joins_by_evidence", "joins by evidence"), ("names", "names")):
        lines += _table(title, stats[key])
    return "\n".join(lines)


def _stats(args: argparse.Namespace) -> int:
    from realm.kg.default import distinct_strings
    from realm.kg.sources.synonyms import name_counts
    from realm.kg.spec import load_kg

    kg = load_kg(args.kg, progress=False)
    if args.json:
        payload = {"name": kg.name, "version": kg.version, "aliases": len(kg.aliases),
                   "distinct_strings": distinct_strings(kg), **kg.stats(), "names": name_counts(kg)}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        sys.stdout.write(format_stats(kg) + f"distinct name/synonym strings: {distinct_strings(kg):,}\n")
    return 0


def _index_options(parser: argparse.ArgumentParser) -> None:
    _add_kg_option(parser)
    parser.add_argument(
        "--embedder",
        choices=sorted(EMBEDDERS),
        default=DEFAULT_EMBEDDER,
        help=f"text embedder (default: {DEFAULT_EMBEDDER})",
    )
    parser.add_argument(
        "--chroma-host",
        default=None,
        help="use a Chroma server (`chroma run`) instead of the local cache",
    )
    parser.add_argument(
        "--chroma-port", type=int, default=8000, help="Chroma server port (default 8000)"
    )


def _open(args: argparse.Namespace) -> tuple[KnowledgeGraph, Any, Any]:
    """The KG, embedder and Chroma index the options name."""
    kg, embedder = _load(args)
    return kg, embedder, _connect(args, kg, embedder)


def _load(args: argparse.Namespace) -> tuple[KnowledgeGraph, Any]:
    from realm.kg.embedders import get_embedder
    from realm.kg.spec import load_kg

    return load_kg(args.kg, progress=not getattr(args, "no_progress", False)), get_embedder(args.embedder)


def _connect(args: argparse.Namespace, kg: KnowledgeGraph, embedder: Any) -> Any:
    from realm.kg.index import ChromaIndex

    return ChromaIndex.for_kg(kg.name, embedder.model_id, host=args.chroma_host, port=args.chroma_port)


def _index(args: argparse.Namespace) -> int:
    """Build or update the index; logs what was embedded, kept and deleted."""
    from realm.cache import publish_lock
    from realm.kg.index import build_index, default_index_dir

    kg, embedder = _load(args)
    types = [t.strip() for t in args.types.split(",") if t.strip()] if args.types else None
    # Chroma's local store is not safe for two writing processes: a second build of the same
    # index waits for the first, then finds every entry present. A server orders its own writes.
    lock = (contextlib.nullcontext() if args.chroma_host is not None
            else publish_lock(Path(default_index_dir(kg.name, embedder.model_id))))
    with lock:
        report = build_index(kg, embedder, _connect(args, kg, embedder), types=types, batch_size=args.batch_size,
                             progress=not args.no_progress)
    log.info("index ready: %d entries of types %s (%.0f strings/s)", report.entries,
             ",".join(report.extra["types"]), report.strings_per_s)
    return 0


def _query(args: argparse.Namespace) -> int:
    """Print the candidates of ``args.text`` as JSON lines (id, name, type, score, ..., the
    concept and its codes with their names)."""
    from realm.kg.index import check_index
    from realm.kg.linker import Linker

    kg, embedder, index = _open(args)
    # an untyped query searches every type: a scoped index must cover them all
    check_index(index, kg, embedder, [args.type] if args.type else {n.type for n in kg.nodes()})
    linker = Linker(kg, embedder, index)  # refuses a missing or stale index with a KGError
    for cand in linker.link(args.text, type=args.type, k=args.k):
        row = {
            "id": cand.node_id,
            "name": cand.name,
            "type": cand.type,
            "score": round(cand.score, 4),
            "matched": cand.matched,
            "method": cand.method,
            "concept": cand.concept_id,
            "codes": [{"id": code, "name": kg.node(code).name} for code in cand.codes],
        }
        sys.stdout.write(json.dumps(row) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``build``, ``stats``, ``index`` and ``query`` to ``realm kg``."""
    sub = parser.add_subparsers(dest="kg_command", metavar="KG_COMMAND", required=True)
    build = sub.add_parser("build", help="build (or reuse) a KG and print its version, counts and path")
    _add_kg_option(build)
    build.add_argument("--rebuild", action="store_true", help="ignore the cache and rebuild")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(func=_build)
    stats = sub.add_parser("stats", help="node and edge counts by type and source")
    _add_kg_option(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
    stats.set_defaults(func=_stats)
    index = sub.add_parser(
        "index",
        help="embed every node name and synonym into the vector index",
        description="Build or update the vector index of a KG (resumable, incremental).",
    )
    _index_options(index)
    index.add_argument(
        "--types", default=None,
        help="only nodes of these comma-separated types (default: every type); a later call with "
        "other types adds them to the same index",
    )
    index.add_argument(
        "--batch-size", type=int, default=512, help="strings embedded per committed batch"
    )
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    index.set_defaults(func=_index)

    query = sub.add_parser(
        "query",
        help="link a text to KG nodes; prints JSON lines",
        description="Link TEXT to nodes of a KG; one JSON object per candidate.",
    )
    query.add_argument("text", metavar="TEXT")
    _index_options(query)
    query.add_argument("--k", type=int, default=5, help="number of candidates (default 5)")
    query.add_argument("--type", default=None, help="only nodes of this type (e.g. phenotype)")
    query.set_defaults(func=_query)


