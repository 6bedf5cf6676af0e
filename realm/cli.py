"""The ``realm`` command: one entry point that wires the stages together.

Sub-commands are registered lazily: each group lives in the stage that owns it and is
imported only when invoked, so ``realm --help`` answers without importing torch.

    realm data synth|prepare          realm.data.commands
    realm kg build|stats|index|query  realm.kg.commands
    realm extract                     realm.commands.extract
    realm fit|validate|test|predict   realm.models.cli (LightningCLI)
    realm evaluate                    realm.eval.commands
    realm bench NAME                  one module per benchmark (BENCHES)
    realm harmonize / serialize       realm.harmonize.commands / realm.serialize.commands
    realm demo                        realm.demo
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from realm.errors import RealmError

__all__ = ["main", "GROUPS", "LIGHTNING_VERBS", "BENCHES"]

#: group name -> (module with ``register(parser)``, one-line help)
GROUPS: dict[str, tuple[str, str]] = {
    "data": ("realm.data.commands", "synthesize a hospital or prepare a cohort"),
    "kg": ("realm.kg.commands", "build, index, inspect and query the knowledge graph"),
    "extract": ("realm.commands.extract", "extract and link entities from a cohort's notes"),
    "evaluate": ("realm.eval.commands", "metrics, CIs, calibration and an HTML report"),
    "harmonize": ("realm.harmonize.commands", "map raw medication strings to concepts"),
    "serialize": ("realm.serialize.commands", "print a stay as text for an embedding model"),
    "demo": ("realm.demo", "the whole pipeline on the built-in synthetic hospital"),
}
#: Lightning's verbs, handed to LightningCLI with the rest of the command line.
LIGHTNING_VERBS = ("fit", "validate", "test", "predict")
#: benchmark name -> (module with ``register(parser)``, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "physionet2012": ("realm.bench.physionet2012", "train and score every model on PhysioNet 2012"),
    "synthetic": ("realm.bench.synthetic", "REALM vs time series vs the oracle"),
    "bc8": ("realm.bench.bc8", "phenotype extraction + HPO normalization (BioCreative VIII)"),
    "linking": ("realm.bench.linking", "entity linking accuracy and index speed"),
    "harmonize": ("realm.bench.harmonize", "medication concept harmonization"),
    "serialize": ("realm.bench.serialize", "serialized-record and note embeddings: LR and few-shot probes"),
}


def _add_lazy(sub: argparse._SubParsersAction, name: str, module: str, help_: str) -> None:
    parser = sub.add_parser(name, help=help_, description=help_)
    parser.set_defaults(_module=module)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realm",
        description="Knowledge-grounded multimodal clinical prediction from EHRs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in GROUPS.items():
        _add_lazy(sub, name, module, help_)
    for verb in LIGHTNING_VERBS:
        sub.add_parser(verb, help=f"Lightning {verb} (see `realm {verb} --help`)", add_help=False)
    bench = sub.add_parser("bench", help="reproducible benchmarks on real or synthetic data")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCH")
    for name, (module, help_) in BENCHES.items():
        _add_lazy(bench_sub, name, module, help_)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_VERBS:
        from realm.models.cli import run_lightning_cli  # heavy: torch, lightning

        try:
            run_lightning_cli(argv)
        except RealmError as exc:
            logging.getLogger("realm").error("%s: %s", type(exc).__name__, exc)
            return 1
        return 0
    parser = _build_parser()
    # Parse only the command path first (without -h, which must wait until the owning
    # module has added its own arguments); the module then registers its sub-parser.
    probe = [a for a in argv if a not in ("-h", "--help")]
    known, _ = parser.parse_known_args(probe)
    logging.basicConfig(
        level=logging.DEBUG if known.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    module = getattr(known, "_module", None)
    if module is None:
        if len(probe) != len(argv):
            parser.parse_args(argv)  # prints the help of the group asked for, then exits
        parser.print_help()
        return 0 if not argv else 2
    # Re-parse with the owning module's arguments registered on its sub-parser.
    full = _build_parser()
    target = full
    for action in full._subparsers._group_actions:  # the top-level sub-command table
        target = action.choices[known.command]
    if known.command == "bench":
        target = target._subparsers._group_actions[0].choices[known.bench]
    importlib.import_module(module).register(target)
    args = full.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RealmError as exc:
        logging.getLogger("realm").error("%s: %s", type(exc).__name__, exc)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
