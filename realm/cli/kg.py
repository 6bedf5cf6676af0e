"""``realm kg build|stats`` (and ``index|query`` once realm.cli.kg_index exists)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import sys

from realm.kg.graph import KnowledgeGraph

__all__ = ["register"]

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
    stats = kg.stats()
    lines = [f"KG {kg.name}  version {kg.version}  nodes {stats['totals']['nodes']:,}  "
             f"edges {stats['totals']['edges']:,}  aliases {len(kg.aliases):,}", ""]
    for key, title in (("nodes_by_type", "node type"), ("nodes_by_source", "node source"),
                       ("edges_by_relation", "edge relation"), ("edges_by_source", "edge source")):
        lines += _table(title, stats[key])
    return "\n".join(lines)


def _stats(args: argparse.Namespace) -> int:
    from realm.kg.default import distinct_strings
    from realm.kg.spec import load_kg

    kg = load_kg(args.kg, progress=False)
    if args.json:
        payload = {"name": kg.name, "version": kg.version, "aliases": len(kg.aliases),
                   "distinct_strings": distinct_strings(kg), **kg.stats()}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        sys.stdout.write(format_stats(kg) + f"distinct name/synonym strings: {distinct_strings(kg):,}\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``build`` and ``stats`` (and ``index``/``query`` when available) to ``realm kg``."""
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
    # The Chroma index and linker commands live with their owner; plug them in when present.
    if importlib.util.find_spec("realm.cli.kg_index") is not None:
        importlib.import_module("realm.cli.kg_index").register(sub)
