"""The ``realm data`` command group: ``synth`` and ``prepare``.

:func:`register` is called by :mod:`realm.cli` with the ``data`` sub-parser. Each
sub-command's ``func`` takes the parsed namespace and returns the exit code; heavy modules
are imported inside it, so ``realm data --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from realm.data.cohort import TASKS, Cohort
from realm.data.prepare import SOURCES, prepare_cohort
from realm.data.splits import SPLITS

__all__ = ["register", "summarize"]


def _split_list(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. a,b")
    return items


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``synth`` and ``prepare`` to the ``realm data`` parser."""
    sub = parser.add_subparsers(dest="data_command", metavar="{synth,prepare,export-meds}")
    parser.set_defaults(func=lambda _args: _usage(parser))

    synth = sub.add_parser("synth", help="write a synthetic hospital in MIMIC-III layout",
                           description="Write a synthetic hospital (MIMIC-III CSV layout plus "
                           "TRUE_RISK.csv) to --out.")
    synth.add_argument("--out", type=Path, required=True, help="folder to write")
    synth.add_argument("--n-stays", type=int, default=1000, help="ICU stays (default 1000)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.set_defaults(func=_run_synth)

    prep = sub.add_parser("prepare", help="read a source into a cohort with splits",
                          description="Read a source into the canonical cohort format, "
                          "assign subject-level splits and save it.")
    prep.add_argument("--source", choices=SOURCES, required=True)
    prep.add_argument("--root", type=Path, required=True, help="folder of the source files")
    prep.add_argument("--out", type=Path, default=None,
                      help="cohort folder to write (default: the realm cache)")
    prep.add_argument("--window-hours", type=float, default=48.0,
                      help="prediction time after ICU admission (default 48)")
    prep.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    prep.add_argument("--fractions", type=float, nargs=3, default=(0.7, 0.15, 0.15),
                      metavar=("TRAIN", "VAL", "TEST"), help="split shares (default 0.7 0.15 0.15)")
    prep.add_argument("--sets", type=_split_list, default=None,
                      help="PhysioNet 2012 sets, e.g. a,b (default: every set found)")
    prep.add_argument("--labs", type=_split_list, default=None,
                      help="MIMIC lab variables by canonical name, comma-separated")
    prep.add_argument("--temporal", action="store_true",
                      help="split by first ICU admission time instead of at random")
    prep.add_argument("--force", action="store_true", help="re-read even if a cohort exists")
    prep.add_argument("--strict", action="store_true",
                      help="stop at the first malformed row instead of counting it in quality.json "
                           "and skipping it")
    prep.add_argument("--max-bad-fraction", type=float, default=None,
                      help="MIMIC sources: a table file with more of its rows malformed than this "
                           "share is refused as unreadable (default 0.5)")
    prep.add_argument("--mapping", type=Path, default=None,
                      help="--source meds: code mapping YAML (default: realm's own export's)")
    prep.add_argument("--labels", type=Path, default=None, dest="meds_labels",
                      help="--source meds: MEDS label folder <dir>/<task>/**/*.parquet (e.g. ACES "
                           "output); default: labels derived from the codes")
    prep.add_argument("--no-progress", dest="progress", action="store_false",
                      help="hide progress bars")
    prep.set_defaults(func=_run_prepare)

    export = sub.add_parser("export-meds", help="write a cohort as a MEDS dataset (needs realm[meds])",
                            description="Write a realm cohort folder as a MEDS dataset (data shards, "
                            "metadata, subject splits, labels in the MEDS label schema).")
    export.add_argument("--cohort", type=Path, required=True, help="a cohort folder")
    export.add_argument("--out", type=Path, required=True, help="MEDS folder to write")
    export.set_defaults(func=_run_export_meds)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _run_synth(args: argparse.Namespace) -> int:
    from realm.data.synth import write_synthetic_hospital  # pulls in the generator only here

    folder = write_synthetic_hospital(args.out, n_stays=args.n_stays, seed=args.seed)
    sys.stdout.write(f"synthetic hospital with {args.n_stays} stays written to {folder}\n")
    return 0


def _run_prepare(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cohort, folder = prepare_cohort(
        args.source, args.root, args.out, window_hours=args.window_hours, seed=args.seed,
        fractions=tuple(args.fractions), temporal=args.temporal, sets=args.sets,
        labs=args.labs, progress=args.progress, force=args.force, strict=args.strict,
        mapping=args.mapping, meds_labels=args.meds_labels, max_bad_fraction=args.max_bad_fraction,
    )
    sys.stdout.write(summarize(cohort) + "\n")
    sys.stdout.write(f"cohort: {folder}  ({time.perf_counter() - start:.1f} s)\n")
    return 0


def _run_export_meds(args: argparse.Namespace) -> int:
    from realm.data.meds import export_meds  # needs the meds extra (polars)

    sys.stdout.write(f"MEDS dataset written to {export_meds(args.cohort, args.out)}\n")
    return 0


def summarize(cohort: Cohort) -> str:
    """A short text summary: sizes, label counts per split, data-quality problems."""
    counts = cohort.counts()
    lines = [
        f"source {cohort.meta.get('source', '?')}, window {cohort.meta.get('window_hours')} h",
        f"stays {counts['stays']:,}  subjects {counts['subjects']:,}  "
        f"events {counts['events']:,}  notes {counts['notes']:,}",
        f"{'split':<6} {'stays':>7}  " + "  ".join(f"{t + ' (pos/defined)':>30}" for t in TASKS),
    ]
    merged = cohort.stays[["stay_id", "split"]].merge(cohort.labels, on="stay_id", how="left")
    for split in (*SPLITS, None):
        part = merged if split is None else merged[merged["split"] == split]
        cells = []
        for task in TASKS:
            defined = part[task].dropna()
            share = f" ({defined.mean():.1%})" if len(defined) else ""
            cells.append(f"{f'{int(defined.sum())}/{len(defined)}{share}':>30}")
        lines.append(f"{split or 'all':<6} {len(part):>7}  " + "  ".join(cells))
    lines.append(cohort.quality.summary())
    return "\n".join(lines)
