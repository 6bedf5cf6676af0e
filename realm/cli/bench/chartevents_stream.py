"""``realm bench chartevents-stream``: stream a large synthetic CHARTEVENTS through the MIMIC-III reader.

    nice realm bench chartevents-stream --rows 2000000 --out bench-2m.json [--keep] [--root DIR]

Exits 1 when the reader's peak memory is over the bar (realm.bench.chartevents_stream).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.chartevents_stream import ChartEventsStreamConfig, format_table, run

    report = run(ChartEventsStreamConfig(rows=args.rows, out=args.out, workdir=args.workdir,
                                         memory_limit=args.memory_limit, keep=args.keep, root=args.root))
    sys.stdout.write(format_table(report) + "\n")
    return 0 if report["passed"] else 1


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench chartevents-stream`` arguments."""
    parser.add_argument("--rows", type=int, default=50_000_000, help="CHARTEVENTS rows")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the generated folder")
    parser.add_argument("--out", type=Path, default=Path("chartevents_stream.json"), help="JSON result")
    parser.add_argument("--memory-limit", default="2GB", help="read_mimic3 memory_limit")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument("--root", type=Path, default=None,
                        help="measure this already generated folder (of --rows rows) instead")
    parser.set_defaults(func=_run)
