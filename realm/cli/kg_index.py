"""``realm kg index`` and ``realm kg query``: build the name index, link a string from the shell.

    realm kg index [--kg default] [--embedder onnx] [--chroma-host H --chroma-port P]
    realm kg query "high arched palate" --type phenotype [--k 5]

``register`` is called by :mod:`realm.cli.kg` with its sub-parser table.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from realm.kg.embedders import DEFAULT_EMBEDDER, EMBEDDERS

__all__ = ["register", "run_index", "run_query"]

log = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kg", default="default", help="built-in KG name or a KG YAML spec (default: default)"
    )
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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` and ``query`` sub-commands to ``realm kg``."""
    index = subparsers.add_parser(
        "index",
        help="embed every node name and synonym into the vector index",
        description="Build or update the vector index of a KG (resumable, incremental).",
    )
    _common(index)
    index.add_argument(
        "--batch-size", type=int, default=512, help="strings embedded per committed batch"
    )
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    index.set_defaults(func=run_index)

    query = subparsers.add_parser(
        "query",
        help="link a text to KG nodes; prints JSON lines",
        description="Link TEXT to nodes of a KG; one JSON object per candidate.",
    )
    query.add_argument("text", metavar="TEXT")
    _common(query)
    query.add_argument("--k", type=int, default=5, help="number of candidates (default 5)")
    query.add_argument("--type", default=None, help="only nodes of this type (e.g. phenotype)")
    query.set_defaults(func=run_query)


def _open(args: argparse.Namespace):  # -> (kg, embedder, index)
    from realm.kg.embedders import get_embedder
    from realm.kg.index import ChromaIndex
    from realm.kg.spec import load_kg

    kg = load_kg(args.kg, progress=not getattr(args, "no_progress", False))
    embedder = get_embedder(args.embedder)
    index = ChromaIndex.for_kg(
        kg.name, embedder.model_id, host=args.chroma_host, port=args.chroma_port
    )
    return kg, embedder, index


def run_index(args: argparse.Namespace) -> int:
    """Build or update the index; logs what was embedded, kept and deleted."""
    from realm.kg.index import build_index

    kg, embedder, index = _open(args)
    report = build_index(
        kg, embedder, index, batch_size=args.batch_size, progress=not args.no_progress
    )
    log.info("index ready: %d entries (%.0f strings/s)", report.entries, report.strings_per_s)
    return 0


def run_query(args: argparse.Namespace) -> int:
    """Print the candidates of ``args.text`` as JSON lines (id, name, type, score, ...)."""
    from realm.kg.linker import Linker

    kg, embedder, index = _open(args)
    linker = Linker(kg, embedder, index)  # refuses a missing or stale index with a KGError
    for cand in linker.link(args.text, type=args.type, k=args.k):
        row = {
            "id": cand.node_id,
            "name": cand.name,
            "type": cand.type,
            "score": round(cand.score, 4),
            "matched": cand.matched,
            "method": cand.method,
        }
        sys.stdout.write(json.dumps(row) + "\n")
    return 0
