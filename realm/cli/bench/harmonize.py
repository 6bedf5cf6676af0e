"""``realm bench harmonize``: score a harmonization backend on a labelled string file.

    realm bench harmonize --labels kg/harmonize/labels_mimic3_demo.csv --out harmonize.json \\
        [--backend kg|llm|llm+kg] [--kg default] [--llm-config llm.yaml] [--tasks route,antibiotic] \\
        [--config bench/harmonize.yaml]

Prints one table row per task (realm.bench.harmonize.format_table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realm.harmonize.harmonizer import BACKENDS

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.harmonize import HarmonizeBenchConfig, format_table, run
    from realm.config import load_config

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None
    cfg = load_config(HarmonizeBenchConfig, args.config, labels=args.labels, out=args.out, tasks=tasks,
                      backend=args.backend, kg=args.kg, llm_config=args.llm_config,
                      shots_file=args.shots_file, cache=False if args.no_cache else None)
    sys.stdout.write(format_table(run(cfg)["tasks"]) + "\n")  # the bench report, as a table on stdout
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``realm bench harmonize`` arguments."""
    parser.add_argument("--labels", type=Path, required=True, help="labelled CSV (field,string,<task columns>)")
    parser.add_argument("--out", type=Path, required=True, help="JSON with every task's metrics")
    parser.add_argument("--config", default="bench/harmonize.yaml",
                        help="settings YAML (default: configs/bench/harmonize.yaml)")
    parser.add_argument("--tasks", default=None, help="comma-separated tasks to score (default: every built-in)")
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="who answers (default: the config's, kg)")
    parser.add_argument("--kg", default=None, help="KG spec for the kg backend (built-in name or YAML)")
    parser.add_argument("--llm-config", type=Path, default=None, help="LLM config YAML (as for realm extract)")
    parser.add_argument("--shots-file", type=Path, default=None, help="CSV text,answer[,task] of your own shots")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write cached LLM replies")
    parser.set_defaults(func=_run)
