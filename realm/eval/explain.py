"""Per-stay explanations a clinician can check: which findings and which hours x variables
moved a stay's risk, by how much, and where the knowledge about each finding came from.

Three tables, one row per item, saved together as Parquet (:class:`Explanations`):

- ``stays``: stay_id, task, model, risk, y_true, reason (why this stay was chosen:
  ``highest risk`` or ``random``), and the REALM gate weights (timeseries, entities,
  notes; NaN for models without a gate).
- ``entities`` (models that read the entity set): one row per concept and assertion of the
  stay: stay_id, task, list (``present`` findings, ``negated`` ones, ``other``: historical,
  family, hypothetical), rank (within the stay's list, 1 = raised the risk most), concept,
  name, codes (every code of the concept: vocabulary duplicates linked to one mention or
  joined by the KG's crosswalk are one row, see :mod:`realm.eval.concepts`), type,
  assertion, mentions, link_score, effect, kg_path, snippet. Every concept of the stay's
  entity set has its row (the report shows those that moved the risk most).
- ``timeseries``: the ``top_k`` (time window, variable) pairs by size of effect: stay_id,
  task, rank, variable, hour_start, hour_end, effect, n_measured (measurements in the
  window), value (the last of them, raw, canonical unit).

``effect`` is the stay's risk minus its risk with that item removed (occlusion, see
:mod:`realm.eval.occlusion`), as a probability difference: ``+0.05`` means the item raised
the risk by 5 percentage points. A concept is removed with all its codes, so duplicates
never split one effect between them.

Snippets are at most :data:`SNIPPET_CHARS` characters of the note around the mention, the
mention marked with guillemets; the full note text never leaves this module, and nothing
here logs text.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from realm.cache import atomic_dir
from realm.errors import ConfigError, DataError, KGError
from realm.eval.concepts import KnowledgePaths, concept_codes, concept_groups
from realm.eval.occlusion import (SeriesLayout, entity_effects, risks, series_effects,
                                  window_cells)
from realm.records import Assertion

__all__ = ["Explanations", "select_stays", "snippet", "explain_stays", "list_of",
           "SNIPPET_CHARS", "LISTS", "ENTITY_COLUMNS", "SERIES_COLUMNS"]

log = logging.getLogger(__name__)

SNIPPET_CHARS = 120
_ASSERTIONS = list(Assertion)  # EntityProvider codes: 0 = padding, i + 1 = _ASSERTIONS[i]
_TABLES = ("stays", "entities", "timeseries")
#: The entity lists, in the order a report shows them.
LISTS = ("present", "negated", "other")
ENTITY_COLUMNS = ["stay_id", "task", "list", "rank", "concept", "name", "codes", "type",
                  "assertion", "mentions", "link_score", "effect", "kg_path", "snippet"]
SERIES_COLUMNS = ["stay_id", "task", "rank", "variable", "hour_start", "hour_end", "effect",
                  "n_measured", "value"]


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



def list_of(assertion: str) -> str:
    """The list an assertion's entities go in: ``present``, ``negated`` or ``other``."""
    return assertion if assertion in ("present", "negated") else "other"


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


def _batch_for(datamodule: Any, stay_ids: Sequence[int]) -> dict[str, torch.Tensor]:
    """One batch of exactly these stays, in this order, from the DataModule's arrays."""
    datamodule.setup("predict")
    row_of = {int(s): r for r, s in enumerate(datamodule.tensors.stay_ids)}
    missing = [s for s in stay_ids if int(s) not in row_of]
    if missing:
        raise DataError(f"stays {missing[:5]} are not in the DataModule's cohort", field="stay_id")
    return datamodule._collate([row_of[int(s)] for s in stay_ids])


# -- the time series -------------------------------------------------------------------------
def _series_rows(effects: list[np.ndarray], cells: list[list[tuple[int, int]]],
                 stay_ids: Sequence[int], task: str, tensors: Any, events: pd.DataFrame,
                 bins_per_window: int, top_k: int) -> list[dict[str, Any]]:
    cfg = tensors.config
    # the discretizer's binning: early events in the first bin, the last hour in the last
    hours = events["hours"].to_numpy(dtype=float)
    bins = np.clip(np.floor(hours / cfg.bin_hours), 0, cfg.n_bins - 1)
    events = events.assign(window=(bins // bins_per_window).astype(int))
    width = bins_per_window * cfg.bin_hours
    rows = []
    for i, stay in enumerate(stay_ids):
        ev = events[events["stay_id"] == stay]
        for rank, j in enumerate(np.argsort(-np.abs(effects[i]), kind="stable")[:top_k], 1):
            window, v = cells[i][j]
            var = tensors.variable_names[v]
            seen = ev[(ev["variable"] == var) & (ev["window"] == window)].sort_values("hours")
            rows.append({"stay_id": int(stay), "task": task, "rank": rank, "variable": var,
                         "hour_start": float(window * width),
                         "hour_end": float(min((window + 1) * width, cfg.window_hours)),
                         "effect": float(effects[i][j]), "n_measured": len(seen),
                         "value": float(seen["value"].iloc[-1]) if len(seen) else float("nan")})
    return rows


# -- the entity set --------------------------------------------------------------------------
def _resolved(mentions: pd.DataFrame, kg: Any) -> pd.DataFrame:
    """Linked mentions with ``node`` = the KG's current id (NA when the KG lacks it)."""
    linked = mentions[mentions["node_id"].notna()]
    ids = {n: _resolve(kg, n) for n in linked["node_id"].astype(str).unique()}
    return linked.assign(node=linked["node_id"].astype(str).map(ids))


def _resolve(kg: Any, node_id: str) -> str | None:
    try:
        return kg.resolve(node_id)
    except KGError:
        return None


def _evidence(mentions: pd.DataFrame, notes: pd.DataFrame, nodes: set[str], assertion: str) -> str:
    """A snippet of the first note mention of any of ``nodes`` with ``assertion`` (the
    stay's resolved mentions); for a time-series finding, when it was first seen."""
    rows = mentions[mentions["node"].isin(nodes) & (mentions["assertion"] == assertion)]
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


def _stay_tokens(batch: dict[str, torch.Tensor], i: int, provider: Any) -> pd.DataFrame:
    """Stay i's entity tokens: token index, node, assertion, mentions, link score."""
    idx = np.flatnonzero(batch["entities_mask"][i].numpy())
    numbers = batch["entities_numbers"][i].numpy()
    return pd.DataFrame({
        "token": idx,
        "node_id": [provider.node_ids[int(batch["entities_node"][i, e])] for e in idx],
        "assertion": [_ASSERTIONS[int(batch["entities_assertion"][i, e]) - 1].value for e in idx],
        "mentions": np.rint(np.expm1(numbers[idx, 0])).astype(int),  # stored as log1p(count)
        "link_score": numbers[idx, 2].astype(float),
    })


def _groups(tokens: pd.DataFrame, kg: Any, mentions: pd.DataFrame) -> list[pd.DataFrame]:
    """The stay's tokens grouped by (concept, assertion), each group's most mentioned,
    best linked node first."""
    same_mention = (mentions[mentions["note_id"].notna() & mentions["node"].notna()]
                    .groupby(["note_id", "spans"])["node"].agg(list)
                    if {"note_id", "spans"} <= set(mentions.columns) else [])
    concept = concept_groups(kg, tokens["node_id"], same_mention)
    tokens = tokens.assign(concept=tokens["node_id"].map(concept)).sort_values(
        ["mentions", "link_score", "node_id"], ascending=[False, False, True])
    return [g for _, g in tokens.groupby(["concept", "assertion"], sort=True)]


def _training_paths(datamodule: Any, provider: Any, kg: Any) -> KnowledgePaths:
    """Which training stays carried each node (the entity sets the model was trained on)."""
    stays = pd.read_parquet(Path(datamodule.cohort_dir) / "stays.parquet",
                            columns=["stay_id", "split"])
    train = stays.loc[stays["split"].astype("string").eq("train").fillna(False), "stay_id"]
    stays_of: dict[str, set[int]] = defaultdict(set)
    ids = [int(s) for s in train]
    for start in range(0, len(ids), 512):
        chunk = ids[start:start + 512]
        got = provider.get(chunk)
        for row, col in zip(*np.nonzero(got["mask"].numpy())):
            stays_of[provider.node_ids[int(got["node"][row, col])]].add(chunk[row])
    return KnowledgePaths.build(kg, stays_of)


def _entity_rows(model: Any, batch: dict[str, torch.Tensor], k: int, base: np.ndarray,
                 provider: Any, kg: Any, mentions: pd.DataFrame, notes: pd.DataFrame,
                 paths: KnowledgePaths, task: str) -> list[dict[str, Any]]:
    ids = [int(s) for s in batch["stay_id"]]
    per_stay = [mentions[mentions["stay_id"] == s] for s in ids]
    groups = [_groups(_stay_tokens(batch, i, provider), kg, per_stay[i]) for i in range(len(ids))]
    tokens = [[g["token"].tolist() for g in stay] for stay in groups]
    effects = entity_effects(model, batch, k, tokens, base)
    rows = []
    for i, stay in enumerate(ids):
        candidates = []
        for group, effect in zip(groups[i], effects[i]):
            lead = group.iloc[0]
            node = kg.node(lead["node_id"])
            members = group["node_id"].unique().tolist()
            # the path of the code the model saw most in training tells where its knowledge is from
            known = max(members, key=lambda n: (len(paths.stays_of.get(n, ())),
                                                n == lead["node_id"]))
            candidates.append({
                "stay_id": stay, "task": task, "list": list_of(lead["assertion"]),
                "concept": lead["concept"], "name": node.name,
                "codes": ", ".join(concept_codes(kg, members)), "type": node.type,
                "assertion": lead["assertion"], "mentions": int(group["mentions"].sum()),
                "link_score": float(group["link_score"].max()), "effect": float(effect),
                "kg_path": paths.path(known),
                "snippet": _evidence(per_stay[i], notes, set(members), lead["assertion"]),
            })
        rows += _ranked(candidates)
    return rows


def _ranked(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per list, every row ranked by effect (1 = raised the risk most)."""
    out = []
    for name in LISTS:
        rows = sorted((r for r in candidates if r["list"] == name), key=lambda r: -r["effect"])
        out += [{**r, "rank": rank} for rank, r in enumerate(rows, 1)]
    return out


def _gates(model: Any, batch: dict[str, torch.Tensor]) -> np.ndarray:
    """REALM's modality gate per stay (B, 3); NaN for models without one."""
    if not hasattr(model, "fuse"):
        return np.full((len(batch["stay_id"]), 3), np.nan)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model.fuse(batch)["gate"].numpy()
    finally:
        model.train(was_training)


def explain_stays(model: Any, datamodule: Any, chosen: pd.DataFrame, task: str, *,
                  model_name: str | None = None, top_k: int = 5, kg: Any = None,
                  mentions: pd.DataFrame | None = None,
                  window_hours: float = 6.0) -> Explanations:
    """Explain ``chosen`` stays (columns stay_id, reason; see :func:`select_stays`).

    ``model`` is a trained RealmTask on ``datamodule``'s inputs. The time-series table is
    filled for every model (its ``top_k`` cells by size of effect, over time windows of
    ``window_hours``); the entity table (every concept of the stay) when
    the model reads the entity set of the DataModule's entity provider (``kg`` and the
    ``mentions`` table are then needed for names, codes, KG paths and snippets).
    """
    if task not in model.tasks:
        raise ConfigError(f"task {task!r} is not one of the model's tasks {model.tasks}")
    k, started = model.tasks.index(task), time.perf_counter()
    ids = [int(s) for s in chosen["stay_id"]]
    batch = _batch_for(datamodule, ids)
    cohort, tensors = Path(datamodule.cohort_dir), datamodule.tensors
    base = risks(model, batch, k)
    bins = max(1, round(window_hours / tensors.config.bin_hours))
    layout = SeriesLayout.of(tensors, _feature_variables(tensors.feature_names,
                                                         tensors.variable_names))
    cells = [window_cells(batch["masks"][i].numpy(), bins) for i in range(len(ids))]
    events = pd.read_parquet(cohort / "events.parquet",
                             columns=["stay_id", "hours", "variable", "value"],
                             filters=[("stay_id", "in", ids)])
    ts_rows = _series_rows(series_effects(model, batch, k, layout, cells, bins, base), cells, ids,
                           task, tensors, events, bins, top_k)
    ent_rows: list[dict[str, Any]] = []
    provider = next((p for p in getattr(datamodule, "extra_modalities", [])
                     if getattr(p, "name", "") == "entities"), None)
    if provider is not None and getattr(getattr(model, "config", None), "use_entities", False):
        if kg is None or mentions is None:
            raise ConfigError("explaining entities needs the KG and the mentions table")
        notes = pd.read_parquet(cohort / "notes.parquet", columns=["note_id", "stay_id", "text"],
                                filters=[("stay_id", "in", ids)])
        ent_rows = _entity_rows(model, batch, k, base, provider, kg,
                                _resolved(mentions[mentions["stay_id"].isin(ids)], kg), notes,
                                _training_paths(datamodule, provider, kg), task)
    gates = _gates(model, batch)
    log.info("explained %d stays (%s): %d hour x variable cells and %d entity concepts "
             "occluded in %.1f s", len(ids), task, sum(map(len, cells)), len(ent_rows),
             time.perf_counter() - started)
    stays = pd.DataFrame({"stay_id": ids, "task": task,
                          "model": model_name or type(model).__name__, "risk": base,
                          "y_true": batch["labels"][:, k].numpy(),
                          "reason": chosen["reason"].to_list(),
                          "gate_timeseries": gates[:, 0], "gate_entities": gates[:, 1],
                          "gate_notes": gates[:, 2]})
    return Explanations(stays, pd.DataFrame(ent_rows, columns=ENTITY_COLUMNS),
                        pd.DataFrame(ts_rows, columns=SERIES_COLUMNS))
