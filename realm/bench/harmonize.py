"""``realm bench harmonize``: score a harmonization backend on a labelled string file.

    realm bench harmonize --labels kg/harmonize/labels_mimic3_demo.csv --out harmonize.json \
        [--backend kg|llm|llm+kg] [--kg default] [--llm-config llm.yaml] [--tasks route,antibiotic]

Every built-in task is scored on the rows labelled for it (see realm.harmonize.evaluate:
"unsure" counts as wrong; coverage is reported beside). Prints one table row per task
and writes JSON with the metrics, the label file's digest, the KG version and the
command, plus the strings each task got wrong (for error analysis, not for tuning).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

from realm.cache import atomic_path, file_digest
from realm.errors import ConfigError
from realm.cli.harmonize import add_backend_arguments, chat_model_from_args
from realm.harmonize.evaluate import gold_for, read_labels, same_answer, score
from realm.harmonize.harmonizer import harmonize, make_backends
from realm.harmonize.kg_backend import KGBackend
from realm.harmonize.tasks import BUILTIN_TASKS, get_task, read_shots

__all__ = ["register", "run", "format_table"]

log = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", type=Path, required=True, help="labelled CSV (field,string,<task columns>)")
    parser.add_argument("--out", type=Path, required=True, help="JSON with every task's metrics")
    parser.add_argument("--tasks", default=",".join(BUILTIN_TASKS), help="comma-separated tasks to score")
    add_backend_arguments(parser)
    parser.set_defaults(func=run)


def format_table(results: dict[str, dict]) -> str:
    """A fixed-width table: one row per task."""
    head = f"{'task':<26}{'n':>5}{'cover':>7}{'acc':>7}{'acc|ans':>9}{'P':>7}{'R':>7}{'F1':>7}{'bal.acc':>9}"
    lines = [head, "-" * len(head)]
    for task, m in results.items():
        p = m.get("precision", m.get("macro_precision", 0.0))
        r = m.get("recall", m.get("macro_recall", 0.0))
        f = m.get("f1", m.get("macro_f1", 0.0))
        lines.append(f"{task:<26}{m['n']:>5}{m['coverage']:>7.3f}{m['accuracy']:>7.3f}{m['accuracy_answered']:>9.3f}"
                     f"{p:>7.3f}{r:>7.3f}{f:>7.3f}{m['balanced_accuracy']:>9.3f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rows = read_labels(args.labels)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in names if t not in BUILTIN_TASKS]
    if unknown:
        raise ConfigError(f"unknown tasks {unknown}; choose from {list(BUILTIN_TASKS)}")
    started = time.perf_counter()
    backends = make_backends(args.backend, kg=args.kg, chat_model=chat_model_from_args(args),
                             n_samples=args.samples, min_agreement=args.min_agreement, cache=not args.no_cache)
    results: dict[str, dict] = {}
    errors: dict[str, list[dict[str, str]]] = {}
    for name in names:
        task = get_task(name)
        shots = read_shots(args.shots_file, task=name) if args.shots_file else []
        if shots or args.shots is not None:
            task = task.with_shots(shots, args.shots)
        strings, gold = gold_for(rows, task)
        concepts = harmonize(strings, task, backends=backends)
        results[name] = score(gold, [c.value for c in concepts], task)
        results[name]["answered_by"] = {b: sum(c.backend == b for c in concepts) for b in ("kg", "llm", "none")}
        results[name]["n_unparseable_replies"] = sum(c.n_unparseable for c in concepts)
        errors[name] = [{"string": s, "gold": g, "predicted": c.value}
                        for s, g, c in zip(strings, gold, concepts) if not same_answer(task, g, c.value)]
    kg_version = next((b.kg.version for b in backends if isinstance(b, KGBackend)), None)
    payload = {
        "benchmark": "harmonize",
        "command": "realm " + " ".join(sys.argv[1:]) if sys.argv and "realm" in sys.argv[0] else None,
        "labels": str(args.labels),
        "labels_sha256": file_digest(args.labels),
        "backend": args.backend,
        "kg": args.kg if "kg" in args.backend else None,
        "kg_version": kg_version,
        "machine": platform.platform(),
        "seconds": round(time.perf_counter() - started, 2),
        "tasks": results,
        "errors": errors,
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    sys.stdout.write(format_table(results) + "\n")  # the bench report, as a table on stdout
    log.info("wrote %s", args.out)
    return 0
