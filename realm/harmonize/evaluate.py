"""Scoring harmonized answers against a labelled file.

Metrics per task, all over *every* labelled string (an ``unsure`` answer is a wrong
answer, never dropped), plus ``coverage`` (share answered) and ``accuracy_answered``
(accuracy over the answered strings only):

- binary tasks: accuracy, precision / recall / F1 of ``yes``, balanced accuracy
  (mean of sensitivity and specificity);
- multi-class and generic names: accuracy, macro precision / recall / F1 over the gold
  classes, balanced accuracy (= macro recall). Generic names compare after
  :func:`~realm.harmonize.tasks.normalize_generic` (case, spacing, ingredient order).

The label file (``kg/harmonize/labels_mimic3_demo.csv``, see its LABELLING.md) is wide:
``field`` (DRUG/ROUTE), ``string``, then one column per built-in task; an empty cell
means "not labelled for this task" and the row is left out of that task only.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from realm.errors import DataError
from realm.harmonize.tasks import BUILTIN_TASKS, UNSURE, HarmonizeTask, get_task, normalize_generic

__all__ = ["score", "same_answer", "read_labels", "gold_for", "LABEL_COLUMNS"]

#: task name -> the label file's column for it
LABEL_COLUMNS: dict[str, str] = {"generic_name": "generic_name", "route": "route_class"} | {
    t: t for t in BUILTIN_TASKS if t not in ("generic_name", "route")
}


def _canon(task: HarmonizeTask, value: str) -> str:
    value = value.strip()
    if value == UNSURE:
        return UNSURE
    return normalize_generic(value) if task.is_open else value.lower()


def same_answer(task: HarmonizeTask, gold: str, pred: str) -> bool:
    """True when ``pred`` scores as ``gold`` (generic names compared normalised)."""
    return _canon(task, gold) == _canon(task, pred) != UNSURE


def _safe(num: float, den: float) -> float:
    return num / den if den else 0.0


def score(gold: Sequence[str], pred: Sequence[str], task: HarmonizeTask | str) -> dict[str, float | int]:
    """Metrics for one task (see the module notes); ``gold`` and ``pred`` align by index."""
    task = get_task(task) if isinstance(task, str) else task
    if len(gold) != len(pred):
        raise DataError(f"task {task.name!r}: {len(gold)} gold labels but {len(pred)} predictions")
    g = [_canon(task, x) for x in gold]
    p = [_canon(task, x) for x in pred]
    n = len(g)
    answered = [i for i in range(n) if p[i] != UNSURE]
    correct = [g[i] == p[i] for i in range(n)]
    out: dict[str, float | int] = {
        "n": n,
        "coverage": _safe(len(answered), n),
        "accuracy": _safe(sum(correct), n),
        "accuracy_answered": _safe(sum(correct[i] for i in answered), len(answered)),
        "n_unsure": n - len(answered),
    }
    gold_count = Counter(g)
    pred_count = Counter(p)
    hits = Counter(g[i] for i in range(n) if correct[i])
    recalls = {c: _safe(hits[c], gold_count[c]) for c in gold_count}
    precisions = {c: _safe(hits[c], pred_count[c]) for c in gold_count}
    f1s = {c: _safe(2 * precisions[c] * recalls[c], precisions[c] + recalls[c]) for c in gold_count}
    if task.positive is not None:
        pos = task.positive
        negatives = [c for c in gold_count if c != pos]
        specificity = sum(recalls[c] * gold_count[c] for c in negatives) / max(1, sum(gold_count[c] for c in negatives))
        out |= {
            "n_positive": gold_count[pos],
            "precision": precisions.get(pos, _safe(hits[pos], pred_count[pos])),
            "recall": recalls.get(pos, 0.0),
            "f1": f1s.get(pos, 0.0),
            "balanced_accuracy": (recalls.get(pos, 0.0) + specificity) / 2,
        }
    else:
        k = len(gold_count) or 1
        out |= {
            "n_classes": len(gold_count),
            "macro_precision": sum(precisions.values()) / k,
            "macro_recall": sum(recalls.values()) / k,
            "macro_f1": sum(f1s.values()) / k,
            "balanced_accuracy": sum(recalls.values()) / k,
        }
    return out


def read_labels(path: str | Path) -> list[dict[str, str]]:
    """Rows of a label file (``DataError`` naming the file when columns are missing)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such label file", path=path)
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"field", "string"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"missing columns {sorted(missing)}", path=path)
        rows = list(reader)
    for row_no, row in enumerate(rows, start=2):
        if row["field"] not in ("DRUG", "ROUTE"):
            raise DataError(f"field must be DRUG or ROUTE, got {row['field']!r}", path=path, row=row_no, field="field")
    return rows


def gold_for(rows: Sequence[dict[str, str]], task: HarmonizeTask | str) -> tuple[list[str], list[str]]:
    """(strings, gold labels) of the rows labelled for ``task`` and drawn from its field."""
    task = get_task(task) if isinstance(task, str) else task
    column = LABEL_COLUMNS.get(task.name, task.name)
    strings, gold = [], []
    for row in rows:
        label = (row.get(column) or "").strip()
        if row["field"] == task.field and label:
            strings.append(row["string"])
            gold.append(label)
    return strings, gold
