"""``realm serialize --cohort DIR --stay ID``: print one stay's serialized record.

Printing the record to the user's own terminal is the purpose of the command; the record
(which may hold entities found in notes) never goes to the log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments to its sub-parser."""
    parser.add_argument("--cohort", required=True, type=Path, help="cohort folder (realm data prepare)")
    parser.add_argument("--stay", required=True, type=int, help="stay_id to serialize")
    parser.add_argument("--format", dest="fmt", default="markdown", choices=("markdown", "list"))
    parser.add_argument("--kg", default=None, help="KG spec (name or YAML) to name linked entities")
    parser.add_argument("--mentions", type=Path, default=None,
                        help="mentions table (Parquet/CSV: note_id or hours, node_id/text, assertion); "
                             "default: <cohort>/mentions.parquet (realm extract) when present")
    parser.add_argument("--medications", type=Path, default=None,
                        help="medications table (Parquet/CSV: stay_id, hours, drug); "
                             "default: <cohort>/medications.parquet when present")
    parser.add_argument("--hours", type=float, default=None,
                        help="prediction time in hours (default: the cohort's window)")
    parser.add_argument("--token-budget", type=int, default=512,
                        help="whitespace-approximated token budget; 0 for none")
    parser.set_defaults(func=run)


def _table(path: Path):  # -> pd.DataFrame; pandas imported lazily with the rest
    import pandas as pd

    from realm.errors import DataError

    if not path.is_file():
        raise DataError("table not found", path=path)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def run(args: argparse.Namespace) -> int:
    from realm.data.cohort import Cohort
    from realm.features.record import load_mentions
    from realm.features.serialize import serialize_stay
    from realm.extract.mentions_table import MENTIONS_FILE

    cohort = Cohort.load(args.cohort, tables=("events", "notes"))
    kg = None
    if args.kg:
        from realm.kg.spec import load_kg

        kg = load_kg(args.kg, progress=False)
    mentions_path = args.mentions or (args.cohort / MENTIONS_FILE)
    mentions = load_mentions(mentions_path) if args.mentions or mentions_path.is_file() else None
    meds_path = args.medications or (args.cohort / "medications.parquet")
    medications = _table(meds_path) if args.medications or meds_path.is_file() else None
    text = serialize_stay(cohort, args.stay, fmt=args.fmt, prediction_hours=args.hours,
                          token_budget=args.token_budget or None, kg=kg, mentions=mentions,
                          medications=medications)
    sys.stdout.write(text + "\n")
    return 0
