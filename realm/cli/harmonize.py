"""``realm harmonize``: map one column of raw strings in a CSV to standard concepts.

    realm harmonize --input PRESCRIPTIONS.csv --column DRUG --task antibiotic --out out.csv \
        [--backend kg|llm|llm+kg] [--kg default] [--llm-config llm.yaml] [--shots 10] \
        [--shots-file my_shots.csv] [--samples 5] [--min-agreement 0.6]
    realm harmonize ... --task custom --classes "beta-lactam,other" --question "Is this a beta-lactam?"

The output is the input table plus, for the task, ``<task>`` (value or "unsure"),
``<task>_agreement``, ``<task>_backend`` and ``<task>_unparseable``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from realm.errors import ConfigError
from realm.harmonize.csv_table import harmonize_csv
from realm.harmonize.harmonizer import BACKENDS
from realm.harmonize.llm_backend import REPLY_MAX_TOKENS
from realm.harmonize.tasks import BUILTIN_TASKS, HarmonizeTask, custom_task, get_task, read_shots
from realm.llm.build import chat_model_from_config

__all__ = ["register"]


def _backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Who answers, and how."""
    parser.add_argument("--backend", choices=BACKENDS, default="kg", help="who answers (default: kg)")
    parser.add_argument("--kg", default="default", help="KG spec for the kg backend (built-in name or YAML)")
    parser.add_argument("--llm-config", type=Path, help="LLM config YAML (as for realm extract); local endpoints only unless allow_remote")
    parser.add_argument("--shots", type=int, default=None, help="few-shot examples in the prompt, 0-10")
    parser.add_argument("--shots-file", type=Path, help="CSV text,answer[,task] of your own shots (used first)")
    parser.add_argument("--samples", type=int, default=5, help="LLM samples per string (majority vote)")
    parser.add_argument("--min-agreement", type=float, default=0.6, help="below this vote share: unsure")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write cached LLM replies")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, required=True, help="CSV holding the raw strings")
    parser.add_argument("--column", required=True, help="the column to harmonize (e.g. DRUG, ROUTE)")
    parser.add_argument("--task", required=True, choices=[*BUILTIN_TASKS, "custom"])
    parser.add_argument("--out", type=Path, required=True, help="output CSV")
    parser.add_argument("--out-column", default=None,
                        help="name of the answer column (default: the task's name); an input column "
                             "is never replaced")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--classes", help="custom task: comma-separated classes")
    parser.add_argument("--question", help="custom task: the question asked of each string")
    _backend_arguments(parser)
    parser.set_defaults(func=_run)


def _task(args: argparse.Namespace) -> HarmonizeTask:
    """The task named on the command line, with user shots when given."""
    if args.task == "custom":
        if not args.classes or not args.question:
            raise ConfigError("--task custom needs --classes and --question")
        shots = read_shots(args.shots_file) if args.shots_file else []
        task = custom_task("custom", args.question, args.classes.split(","), shots, field=args.column)
        return task.with_shots([], args.shots) if args.shots is not None else task
    task = get_task(args.task)
    shots = read_shots(args.shots_file, task=args.task) if args.shots_file else []
    return task.with_shots(shots, args.shots) if (shots or args.shots is not None) else task


def _chat_model(args: argparse.Namespace) -> object | None:
    if "llm" not in args.backend:
        return None
    if args.llm_config is None:
        raise ConfigError(f"--backend {args.backend} needs --llm-config")
    return chat_model_from_config(args.llm_config, max_tokens=REPLY_MAX_TOKENS)


def _run(args: argparse.Namespace) -> int:
    harmonize_csv(args.input, args.column, _task(args), args.out, backend=args.backend, kg=args.kg,
                  chat_model=_chat_model(args), n_samples=args.samples, min_agreement=args.min_agreement,
                  cache=not args.no_cache, out_column=args.out_column, overwrite=args.overwrite)
    return 0
