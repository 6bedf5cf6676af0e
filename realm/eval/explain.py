"""Per-stay explanations: which KG entities and which hours x variables drove a risk.

Three tables, one row per item, saved together as Parquet (:class:`Explanations`):

- ``stays``: stay_id, task, model, risk, y_true, reason (why this stay was chosen:
  ``highest risk`` or ``random``), and the REALM gate weights (timeseries, entities,
  notes; NaN for models without a gate).
- ``entities`` (REALM only): stay_id, task, rank, node_id, name, type, assertion,
  link_score, attention, occlusion (risk with the entity minus risk without it, from
  :meth:`realm.models.realm_model.RealmModel.explain`), snippet.
- ``timeseries`` (any model whose input is the binned series): stay_id, task, rank,
  variable, hour_start, hour_end, attribution, observed, value. Attribution is
  gradient x input of the task's logit w.r.t. the normalized values, summed over the
  variable's features in that bin: positive raised the risk. ``value`` is the raw value
  (canonical unit) last recorded at or before the bin's end.

Snippets are at most :data:`SNIPPET_CHARS` characters of the note around the mention, the
mention marked with guillemets; the full note text never leaves this module, and nothing
here logs text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from realm.cache import atomic_dir
from realm.errors import ConfigError, DataError, KGError
from realm.records import Assertion

__all__ = ["Explanations", "select_stays", "snippet", "gradient_x_input", "explain_stays",
           "SNIPPET_CHARS"]

SNIPPET_CHARS = 120
_ASSERTIONS = list(Assertion)  # EntityProvider codes: 0 = padding, i + 1 = _ASSERTIONS[i]
_TABLES = ("stays", "entities", "timeseries")


@dataclass(frozen=True)
class Explanations:
    """The three explanation tables (see the module docstring)."""

    stays: pd.DataFrame
    entities: pd.DataFrame
    timeseries: pd.DataFrame

    def save(self, directory: str | Path) -> Path:
        """Write ``<table>.parquet`` for each table, atomically as one folder."""
        with atomic_dir(Path(directory)) as tmp:
            for name in _TABLES:
                getattr(self, name).to_parquet(tmp / f"{name}.parquet", index=False)
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path) -> Explanations:
        directory = Path(directory)
        missing = [n for n in _TABLES if not (directory / f"{n}.parquet").is_file()]
        if missing:
            raise DataError(f"explanations folder lacks {missing}", path=directory)
        return cls(**{n: pd.read_parquet(directory / f"{n}.parquet") for n in _TABLES})

    @classmethod
    def concat(cls, parts: Sequence[Explanations]) -> Explanations:
        return cls(**{n: pd.concat([getattr(p, n) for p in parts], ignore_index=True)
                      for n in _TABLES})


def select_stays(predictions: pd.DataFrame, task: str, model: str, n_top: int = 5,
                 n_random: int = 3, seed: int = 0) -> pd.DataFrame:
    """The ``n_top`` highest-risk stays and ``n_random`` others drawn with ``seed``:
    columns stay_id, reason. Random draws exclude the top stays."""
    rows = predictions[(predictions["task"] == task) & (predictions["model"] == model)]
    if rows.empty:
        raise DataError(f"no predictions of model {model!r} for task {task!r}", field="model")
    ranked = rows.sort_values(["y_prob", "stay_id"], ascending=[False, True])
    top = ranked["stay_id"].to_numpy()[:n_top]
    rest = np.sort(ranked["stay_id"].to_numpy()[n_top:])
    rng = np.random.default_rng(seed)
    drawn = rng.choice(rest, size=min(n_random, len(rest)), replace=False) if len(rest) else []
    return pd.DataFrame({"stay_id": np.r_[top, drawn].astype("int64"),
                         "reason": ["highest risk"] * len(top) + ["random"] * len(drawn)})


def snippet(text: str, spans: Sequence[Sequence[int]], width: int = SNIPPET_CHARS) -> str:
    """At most ``width`` characters of ``text`` around the first span, the mention marked
    «like this», whitespace collapsed, cut ends marked with an ellipsis."""
    if not spans:
        return ""
    start, end = int(spans[0][0]), int(spans[0][1])
    if not 0 <= start <= end <= len(text):
        raise DataError(f"span [{start}, {end}) outside a note of {len(text)} characters",
                        field="spans")
    room = max(width - (end - start) - 4, 0) // 2  # 4 = two markers + two ellipses
    left = text[max(start - room, 0):start]
    right = text[end:end + room]
    clean = lambda s: re.sub(r"\s+", " ", s)  # noqa: E731
    out = (("…" if start - room > 0 else "") + clean(left) + "«" + clean(text[start:end]) + "»"
           + clean(right) + ("…" if end + room < len(text) else ""))
    return out[:width]


def gradient_x_input(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                     task: int) -> torch.Tensor:
    """Gradient x input of the task's logit w.r.t. ``values``: (B, T, F).

    Each stay's logit depends only on its own inputs, so the gradient of the batch sum
    gives every stay's own gradient in one backward pass.
    """
    was_training = model.training
    model.eval()
    try:
        values = batch["values"].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model({**batch, "values": values})  # (B, K)
            (grad,) = torch.autograd.grad(logits[:, task].sum(), values)
    finally:
        model.train(was_training)
    return (grad * values).detach()  # (B, T, F)


def _feature_variables(feature_names: Sequence[str], variable_names: Sequence[str]) -> np.ndarray:
    """Index into ``variable_names`` of each feature ("Glucose", "GCS_motor=6")."""
    pos = {v: i for i, v in enumerate(variable_names)}
    out = []
    for name in feature_names:
        base = name.split("=", 1)[0]
        if base not in pos:
            raise DataError(f"feature {name!r} belongs to no variable", field="feature_names")
        out.append(pos[base])
    return np.asarray(out)


def _timeseries_rows(attr: np.ndarray, masks: np.ndarray, stay_ids: Sequence[int], task: str,
                     tensors: Any, events: pd.DataFrame, top_k: int) -> list[dict[str, Any]]:
    var_of = _feature_variables(tensors.feature_names, tensors.variable_names)
    n_vars, bin_h = len(tensors.variable_names), tensors.config.bin_hours
    rows = []
    for i, stay in enumerate(stay_ids):
        cells = np.zeros((attr.shape[1], n_vars))  # (T, V)
        np.add.at(cells.T, var_of, attr[i].T)
        order = np.argsort(-np.abs(cells), axis=None, kind="stable")[:top_k]
        ev = events[events["stay_id"] == stay]
        for rank, flat in enumerate(order, 1):
            t, v = np.unravel_index(flat, cells.shape)
            var = tensors.variable_names[v]
            seen = ev[(ev["variable"] == var) & (ev["hours"] <= (t + 1) * bin_h)]
            rows.append({"stay_id": int(stay), "task": task, "rank": rank, "variable": var,
                         "hour_start": float(t * bin_h), "hour_end": float((t + 1) * bin_h),
                         "attribution": float(cells[t, v]), "observed": bool(masks[i, t, v] > 0),
                         "value": float(seen.sort_values("hours")["value"].iloc[-1])
                         if len(seen) else float("nan")})
    return rows


def _mention_snippets(mentions: pd.DataFrame, notes: pd.DataFrame, stay: int, node_id: str,
                      assertion: str, kg: Any) -> str:
    """A snippet of the first note mention of (stay, node, assertion); for a time-series
    finding, where and when it was first seen."""
    rows = mentions[(mentions["stay_id"] == stay) & (mentions["assertion"] == assertion)]
    rows = rows[rows["node_id"].map(lambda n: _resolve(kg, n)) == node_id]
    if rows.empty:
        return ""
    in_notes = rows[rows["note_id"].notna()].sort_values("hours")
    if in_notes.empty:
        first = rows["hours"].min()
        return f"time-series finding, first at hour {first:.0f}" if pd.notna(first) \
            else "time-series finding"
    m = in_notes.iloc[0]
    text = notes.loc[notes["note_id"] == m["note_id"], "text"]
    return snippet(str(text.iloc[0]), json.loads(m["spans"])) if len(text) else ""


def _resolve(kg: Any, node_id: object) -> str | None:
    if node_id is None or pd.isna(node_id):
        return None
    try:
        return kg.resolve(str(node_id))
    except KGError:
        return None


def _entity_rows(explained: list[dict[str, Any]], batch: dict[str, torch.Tensor], provider: Any,
                 kg: Any, mentions: pd.DataFrame, notes: pd.DataFrame,
                 task: str) -> list[dict[str, Any]]:
    rows = []
    for i, stay in enumerate(explained):
        for rank, ent in enumerate(stay["entities"], 1):
            e = ent["index"]
            node_id = provider.node_ids[ent["node"]]
            node = kg.node(node_id)
            assertion = _ASSERTIONS[int(batch["entities_assertion"][i, e]) - 1].value
            rows.append({
                "stay_id": stay["stay_id"], "task": task, "rank": rank, "node_id": node_id,
                "name": node.name, "type": node.type, "assertion": assertion,
                "link_score": float(batch["entities_numbers"][i, e, 2]),
                "attention": ent["attention"], "occlusion": ent["occlusion"],
                "snippet": _mention_snippets(mentions, notes, stay["stay_id"], node_id,
                                             assertion, kg),
            })
    return rows


def _batch_for(datamodule: Any, stay_ids: Sequence[int]) -> dict[str, torch.Tensor]:
    """One batch of exactly these stays, in this order, from the DataModule's arrays."""
    datamodule.setup("predict")
    row_of = {int(s): r for r, s in enumerate(datamodule.tensors.stay_ids)}
    missing = [s for s in stay_ids if int(s) not in row_of]
    if missing:
        raise DataError(f"stays {missing[:5]} are not in the DataModule's cohort", field="stay_id")
    return datamodule._collate([row_of[int(s)] for s in stay_ids])


def explain_stays(model: Any, datamodule: Any, chosen: pd.DataFrame, task: str, *,
                  model_name: str | None = None, top_k: int = 5, kg: Any = None,
                  mentions: pd.DataFrame | None = None) -> Explanations:
    """Explain ``chosen`` stays (columns stay_id, reason; see :func:`select_stays`).

    ``model`` is a trained RealmTask on ``datamodule``'s inputs. When it has REALM's
    ``explain`` API and the DataModule an entity provider, the entity table is filled
    (``kg`` and ``mentions`` are then needed for names and snippets); the hour x variable
    table is filled for every model.
    """
    if task not in model.tasks:
        raise ConfigError(f"task {task!r} is not one of the model's tasks {model.tasks}")
    k = model.tasks.index(task)
    ids = [int(s) for s in chosen["stay_id"]]
    batch = _batch_for(datamodule, ids)
    cohort = Path(datamodule.cohort_dir)
    events = pd.read_parquet(cohort / "events.parquet",
                             columns=["stay_id", "hours", "variable", "value"],
                             filters=[("stay_id", "in", ids)])
    attr = gradient_x_input(model, batch, k).numpy()
    ts_rows = _timeseries_rows(attr, batch["masks"].numpy(), ids, task, datamodule.tensors,
                               events, top_k)
    with torch.no_grad():
        model.eval()
        risk = torch.sigmoid(model(batch)[:, k]).numpy()
    gates = np.full((len(ids), 3), np.nan)
    ent_rows: list[dict[str, Any]] = []
    provider = next((p for p in getattr(datamodule, "extra_modalities", [])
                     if getattr(p, "name", "") == "entities"), None)
    if hasattr(model, "explain") and provider is not None:
        if kg is None or mentions is None:
            raise ConfigError("explaining entities needs the KG and the mentions table")
        explained = model.explain(batch, top_k=top_k, task=k)
        gates = np.array([[s["gate"][m] for m in ("timeseries", "entities", "notes")]
                          for s in explained])
        notes = pd.read_parquet(cohort / "notes.parquet", columns=["note_id", "stay_id", "text"],
                                filters=[("stay_id", "in", ids)])
        ent_rows = _entity_rows(explained, batch, provider, kg, mentions, notes, task)
    labels = batch["labels"][:, k].numpy()
    stays = pd.DataFrame({"stay_id": ids, "task": task,
                          "model": model_name or type(model).__name__, "risk": risk,
                          "y_true": labels, "reason": chosen["reason"].to_list(),
                          "gate_timeseries": gates[:, 0], "gate_entities": gates[:, 1],
                          "gate_notes": gates[:, 2]})
    ent_cols = ["stay_id", "task", "rank", "node_id", "name", "type", "assertion", "link_score",
                "attention", "occlusion", "snippet"]
    ts_cols = ["stay_id", "task", "rank", "variable", "hour_start", "hour_end", "attribution",
               "observed", "value"]
    return Explanations(stays, pd.DataFrame(ent_rows, columns=ent_cols),
                        pd.DataFrame(ts_rows, columns=ts_cols))
