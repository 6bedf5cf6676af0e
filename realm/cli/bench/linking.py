"""``realm bench linking``: entity-linking accuracy on BioCreative VIII Track 3, and index speed;
or accuracy@1 of both linkers on a check set of everyday phrases.

    realm bench linking --data Clinical-Genetics-Physical-Exam-Data-Train.tsv --out linking.json \\
        [--kg hpo] [--seed 0] [--embedder onnx] [--fresh-build] [--default-build] \\
        [--config bench/linking.yaml]
    realm bench linking --check-set kg/checks/everyday_icu_phrases.csv [--kg default] [--out check.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from realm.errors import ConfigError
from realm.kg.embedders import DEFAULT_EMBEDDER, EMBEDDERS

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.linking import LinkingBenchConfig, format_check_set, format_table, run, run_check_set
    from realm.config import load_config

    if args.check_set is not None:
        result = run_check_set(args.check_set, args.kg or "default", args.embedder or DEFAULT_EMBEDDER, args.out)
        sys.stdout.write(format_check_set(result) + "\n")
        return 0
    if args.data is None or args.out is None:
        raise ConfigError("realm bench linking needs --data and --out (or --check-set)")

    cfg = load_config(LinkingBenchConfig, args.config, data=args.data, out=args.out, kg=args.kg,
                      seed=args.seed, embedder=args.embedder, fresh_build=args.fresh_build,
                      default_build=args.default_build)
    sys.stdout.write(format_table(run(cfg)) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add this benchmark's arguments to its ``realm bench linking`` parser."""
    parser.add_argument("--data", type=Path, help="bc8 Track 3 TSV (Train split)")
    parser.add_argument("--out", type=Path, help="JSON file to write (needed with --data)")
    parser.add_argument("--check-set", type=Path, default=None,
                        help="phrase,expected,reason CSV: print accuracy@1 of both linkers on it instead "
                             "(e.g. kg/checks/everyday_icu_phrases.csv; KG default unless --kg)")
    parser.add_argument("--config", default="bench/linking.yaml", help="settings YAML (default: configs/bench/linking.yaml)")
    parser.add_argument("--kg", default=None, help="KG spec (default: the config's, hpo)")
    parser.add_argument("--seed", type=int, default=None, help="split seed (default: the config's)")
    parser.add_argument("--embedder", choices=sorted(EMBEDDERS), default=None)
    parser.add_argument("--fresh-build", action="store_true", default=None,
                        help="time a full index build in a temporary folder (else reuse `realm kg index`'s)")
    parser.add_argument("--default-build", action="store_true", default=None,
                        help="also time the default KG + index build from a clean cache (minutes)")
    parser.set_defaults(func=_run)
