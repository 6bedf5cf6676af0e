"""``realm bench harmonize``: score a harmonization backend on a labelled string file.

    realm bench harmonize --labels kg/harmonize/labels_mimic3_demo.csv --out harmonize.json \
        [--backend kg|llm|llm+kg] [--kg default] [--llm-config llm.yaml] [--tasks route,antibiotic]

Settings: :class:`HarmonizeBenchConfig`, tuned values in ``configs/bench/harmonize.yaml``.

Every built-in task is scored on the rows labelled for it (see realm.harmonize.evaluate:
"unsure" counts as wrong; coverage is reported beside). Prints one table row per task
and writes JSON with the metrics, the label file's digest, the KG version and the
command, plus the strings each task got wrong (for error analysis, not for tuning).
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from realm.cache import atomic_path, file_digest
from realm.errors import ConfigError
from realm.harmonize.evaluate import gold_for, read_labels, same_answer, score
from realm.harmonize.harmonizer import harmonize, make_backends
from realm.llm.build import chat_model_from_config
from realm.harmonize.kg_backend import KGBackend
from realm.harmonize.llm_backend import REPLY_MAX_TOKENS
from realm.harmonize.tasks import BUILTIN_TASKS, get_task, read_shots

__all__ = ["HarmonizeBenchConfig", "run", "format_table"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HarmonizeBenchConfig:
    """What ``realm bench harmonize`` scores.

    Args:
        labels: labelled CSV (``field,string,<task columns>``).
        out: JSON file with every task's metrics.
        tasks: the built-in tasks to score.
        backend: who answers: ``kg``, ``llm`` or ``llm+kg``.
        kg: KG spec of the kg backend (built-in name or YAML).
        llm_config: LLM config YAML (needed by the llm backends).
        shots: few-shot examples in the prompt, 0-10 (None: each task's default).
        shots_file: CSV ``text,answer[,task]`` of your own shots (used first).
        samples: LLM samples per string (majority vote).
        min_agreement: below this vote share the answer is "unsure".
        cache: read and write cached LLM replies.
    """

    labels: Path
    out: Path
    tasks: tuple[str, ...] = tuple(BUILTIN_TASKS)
    backend: Literal["kg", "llm", "llm+kg"] = "kg"
    kg: str = "default"
    llm_config: Path | None = None
    shots: int | None = None
    shots_file: Path | None = None
    samples: int = 5
    min_agreement: float = 0.6
    cache: bool = True


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


def run(cfg: HarmonizeBenchConfig) -> dict[str, Any]:
    """Score every task; writes JSON to ``cfg.out`` and returns it."""
    rows = read_labels(cfg.labels)
    names = list(cfg.tasks)
    unknown = [t for t in names if t not in BUILTIN_TASKS]
    if unknown:
        raise ConfigError(f"unknown tasks {unknown}; choose from {list(BUILTIN_TASKS)}")
    started = time.perf_counter()
    if "llm" in cfg.backend and cfg.llm_config is None:
        raise ConfigError(f"backend {cfg.backend!r} needs an LLM config YAML (--llm-config)")
    chat_model = (chat_model_from_config(cfg.llm_config, max_tokens=REPLY_MAX_TOKENS)
                  if cfg.llm_config and "llm" in cfg.backend else None)
    backends = make_backends(cfg.backend, kg=cfg.kg, chat_model=chat_model,
                             n_samples=cfg.samples, min_agreement=cfg.min_agreement, cache=cfg.cache)
    results: dict[str, dict] = {}
    errors: dict[str, list[dict[str, str]]] = {}
    for name in names:
        task = get_task(name)
        shots = read_shots(cfg.shots_file, task=name) if cfg.shots_file else []
        if shots or cfg.shots is not None:
            task = task.with_shots(shots, cfg.shots)
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
        "labels": str(cfg.labels),
        "labels_sha256": file_digest(cfg.labels),
        "backend": cfg.backend,
        "kg": cfg.kg if "kg" in cfg.backend else None,
        "kg_version": kg_version,
        "machine": platform.platform(),
        "seconds": round(time.perf_counter() - started, 2),
        "tasks": results,
        "errors": errors,
    }
    with atomic_path(cfg.out) as tmp:
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    log.info("wrote %s", cfg.out)
    return payload
