"""``realm bench serialize``: serialized records and note embeddings as features, on the synthetic hospital.

    realm bench serialize --out ser.json [--n-stays 2000] [--seed 0] [--formats list,markdown] \\
        [--no-note-encoder] [--config bench/serialize.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.bench.serialize import SerializeBenchConfig, format_table, run
    from realm.config import load_config

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip()) if args.formats else None
    cfg = load_config(SerializeBenchConfig, args.config, out=args.out, n_stays=args.n_stays, seed=args.seed,
                      kg=args.kg, formats=formats, note_encoder=args.note_encoder, threads=args.threads)
    sys.stdout.write(format_table(run(cfg), cfg.out) + "\n")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's arguments."""
    parser.add_argument("--out", type=Path, required=True, help="JSON with every figure")
    parser.add_argument("--config", default="bench/serialize.yaml",
                        help="settings YAML (default: configs/bench/serialize.yaml)")
    parser.add_argument("--n-stays", type=int, default=None, help="synthetic ICU stays (default: the config's, 2000)")
    parser.add_argument("--seed", type=int, default=None, help="default: the config's (0)")
    parser.add_argument("--kg", default=None, help="KG the entities are linked against")
    parser.add_argument("--formats", default=None, help="comma-separated serialization formats to compare")
    parser.add_argument("--note-encoder", action=argparse.BooleanOptionalAction, default=None,
                        help="also probe MiniLM note embeddings (HFNoteEncoder; default: the config's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the note encoder")
    parser.set_defaults(func=_run)
