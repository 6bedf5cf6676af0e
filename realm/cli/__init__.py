"""The ``realm`` command: one entry point that wires the stages together.

Sub-commands are registered lazily: each group lives in the stage that owns it and is
imported only when invoked, so ``realm --help`` answers without importing torch.

    realm data synth|prepare          realm.cli.data
    realm kg build|stats|index|query  realm.cli.kg
    realm extract                     realm.cli.extract
    realm fit|validate|test|predict   realm.cli.lightning (LightningCLI)
    realm evaluate                    realm.cli.evaluate
    realm bench NAME                  one module per benchmark (BENCHES)
    realm harmonize / serialize       realm.cli.harmonize / realm.cli.serialize
    realm demo                        realm.cli.demo
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from realm.errors import Interrupted, RealmError

__all__ = ["main", "GROUPS", "LIGHTNING_VERBS", "BENCHES", "console_logging"]

#: group name -> (module with ``register(parser)``, one-line help)
GROUPS: dict[str, tuple[str, str]] = {
    "data": ("realm.cli.data", "synthesize a hospital or prepare a cohort"),
    "kg": ("realm.cli.kg", "build, index, inspect and query the knowledge graph"),
    "extract": ("realm.cli.extract", "extract and link entities from a cohort's notes"),
    "evaluate": ("realm.cli.evaluate", "metrics, CIs, calibration and an HTML report"),
    "harmonize": ("realm.cli.harmonize", "map raw medication strings to concepts"),
    "serialize": ("realm.cli.serialize", "print a stay as text for an embedding model"),
    "demo": ("realm.cli.demo", "the whole pipeline on the built-in synthetic hospital"),
}
#: Lightning's verbs, handed to LightningCLI with the rest of the command line.
LIGHTNING_VERBS = ("fit", "validate", "test", "predict")
#: benchmark name -> (module with ``register(parser)``, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "physionet2012": ("realm.cli.bench.physionet2012", "train and score every model on PhysioNet 2012"),
    "synthetic": ("realm.cli.bench.synthetic", "REALM vs time series vs the oracle"),
    "bc8": ("realm.cli.bench.bc8", "phenotype extraction + HPO normalization (BioCreative VIII)"),
    "bc8-split": ("realm.cli.bench.bc8_split", "split a BioCreative VIII TSV into train/dev by observation"),
    "linking": ("realm.cli.bench.linking", "entity linking accuracy and index speed"),
    "linking-ncbi": ("realm.cli.bench.linking_ncbi", "disease normalization on the NCBI disease corpus"),
    "harmonize": ("realm.cli.bench.harmonize", "medication concept harmonization"),
    "serialize": ("realm.cli.bench.serialize", "serialized-record and note embeddings: LR and few-shot probes"),
    "lexicon-throughput": ("realm.cli.bench.lexicon_throughput", "lexicon extractor notes/s on synthetic notes"),
    "chartevents-stream": ("realm.cli.bench.chartevents_stream", "MIMIC-III reader speed and memory on a large CHARTEVENTS"),
    "meds-scale": ("realm.cli.bench.meds_scale", "MEDS reader speed and memory on a generated MEDS dataset"),
    "synthetic-hospitals": ("realm.cli.bench.synthetic_hospitals", "means over several bench synthetic runs"),
}


def _top_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="realm",
        description="Knowledge-grounded multimodal clinical prediction from EHRs.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND")


def _overview() -> argparse.ArgumentParser:
    """The parser that lists every command (nothing below ``realm`` is imported)."""
    parser, sub = _top_parser()
    for name, (_, help_) in GROUPS.items():
        sub.add_parser(name, help=help_)
    for verb in LIGHTNING_VERBS:
        sub.add_parser(verb, help=f"Lightning {verb} (see `realm {verb} --help`)", add_help=False)
    bench = sub.add_parser("bench", help="reproducible benchmarks on real or synthetic data")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCH")
    for name, (_, help_) in BENCHES.items():
        bench_sub.add_parser(name, help=help_)
    return parser


def _command(argv: list[str]) -> tuple[str | None, list[str]]:
    """The module that owns ``argv``'s command (None: no such command) and the words naming
    it: the name -> module tables decide, so only that module is imported."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return None, []
    if words[0] in GROUPS:
        return GROUPS[words[0]][0], words[:1]
    if words[0] == "bench" and len(words) > 1 and words[1] in BENCHES:
        return BENCHES[words[1]][0], words[:2]
    return None, words[:1]



#: Libraries that log every HTTP request at INFO (one line per LLM call) or their own
#: housekeeping: kept to warnings on the console unless -v asks for everything.
_CHATTY_LOGGERS = ("httpx", "httpx2", "httpcore", "openai", "urllib3", "chromadb", "langchain", "filelock")


def console_logging(verbose: bool) -> None:
    """realm's INFO lines on the console; third-party request logs only with ``-v``."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_VERBS:
        from realm.cli.lightning import run_lightning_cli  # heavy: torch, lightning

        try:
            run_lightning_cli(argv)
        except RealmError as exc:
            logging.getLogger("realm").error("%s: %s", type(exc).__name__, exc)
            return 1
        return 0
    console_logging("-v" in argv or "--verbose" in argv)
    module, path = _command(argv)
    if module is None:
        overview = _overview()
        if path:  # an unknown command, or `realm bench` without (or with an unknown) name
            overview.parse_args(argv)  # argparse prints the usage and exits 2
        overview.print_help()
        return 0 if not argv else 2
    parser, sub = _top_parser()
    target = sub.add_parser(path[0])
    if len(path) > 1:
        target = target.add_subparsers(dest="bench").add_parser(path[1])
    importlib.import_module(module).register(target)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RealmError as exc:
        logging.getLogger("realm").error("%s: %s", type(exc).__name__, exc)
        return 1
    except KeyboardInterrupt as exc:
        # Ctrl-C is the user's choice, not a crash: one line, no traceback, the shell's 128 + SIGINT
        saved = f"; {exc.saved}, re-run to resume" if isinstance(exc, Interrupted) else ""
        sys.stderr.write(f"interrupted{saved}\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
