"""Occlusion: how a stay's risk changes when part of its input is taken away.

Occlusion, not gradients, because what a clinician asks is counterfactual: "what would the
model say had this not been in the record?". For the entity set that is exact: an entity is
removed by masking its tokens, the input the model sees for a stay whose notes never
mentioned it, and the answer comes in probability points with its sign. Integrated gradients
would need a baseline embedding that means "absent", which a set model does not have (an
absent entity is a shorter set, not a zero vector), and its attributions are in logit space.
For the time series, removing a variable's measurements in a time window gives the series
the discretizer would have produced without them (forward filled from the previous
measurement, or the variable's normal value before any), so the change is again one the
model could meet in real data.

Every occluded copy of a stay runs through the model in batches of :data:`CHUNK` copies;
each stay's effect is ``risk(full input) - risk(input without the part)``: positive means the
part raised the risk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["risks", "entity_effects", "SeriesLayout", "window_cells", "without_measurements",
           "series_effects", "CHUNK"]

log = logging.getLogger(__name__)

CHUNK = 256


def risks(model: torch.nn.Module, batch: dict[str, torch.Tensor], task: int) -> np.ndarray:
    """The model's risk (sigmoid of the task's logit) for every stay of ``batch``: (B,)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            n = len(batch["values"])
            return np.concatenate([
                torch.sigmoid(model({k: v[s:s + CHUNK] for k, v in batch.items()})[:, task]).numpy()
                for s in range(0, n, CHUNK)]) if n else np.zeros(0)
    finally:
        model.train(was_training)


def _copies(batch: dict[str, torch.Tensor], rows: Sequence[int]) -> dict[str, torch.Tensor]:
    index = torch.as_tensor(list(rows), dtype=torch.long)
    return {k: v[index].clone() for k, v in batch.items()}


def _split(values: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    return np.split(values, np.cumsum(sizes)[:-1]) if len(sizes) else []


def entity_effects(model: torch.nn.Module, batch: dict[str, torch.Tensor], task: int,
                   groups: Sequence[Sequence[Sequence[int]]], base: np.ndarray) -> list[np.ndarray]:
    """Per stay i, the effect of each group of entity tokens ``groups[i][g]`` (indices into
    ``entities_mask[i]``): ``base[i]`` minus the risk with the group's tokens masked."""
    rows = [i for i, stay in enumerate(groups) for _ in stay]
    copies = _copies(batch, rows)
    c = 0
    for stay in groups:
        for tokens in stay:
            copies["entities_mask"][c, list(tokens)] = False
            c += 1
    without = risks(model, copies, task) if rows else np.zeros(0)
    return _split(base[rows] - without, [len(s) for s in groups])


@dataclass(frozen=True)
class SeriesLayout:
    """How the binned series is laid out, to remove measurements from it.

    Attributes:
        variable_of: (F,) the variable of each feature column.
        before_first: (F,) each feature's value before the variable's first measurement
            (the discretizer's normal value, already scaled and normalized).
        bin_hours, window_hours: the bins' width and the prediction window.
        impute: the discretizer's imputation (``forward`` or ``none``).
    """

    variable_of: np.ndarray
    before_first: np.ndarray
    bin_hours: float
    window_hours: float
    impute: str

    @classmethod
    def of(cls, tensors: Any, variable_of: np.ndarray) -> SeriesLayout:
        """From the discretized cohort: the value before a first measurement is read from a
        bin the discretizer filled before one (deltas == window), so no scaling is redone."""
        cfg = tensors.config
        before = np.zeros(len(variable_of), dtype=np.float32)
        for v, name in enumerate(tensors.variable_names):
            stay, step = np.nonzero(tensors.deltas[:, :, v] >= cfg.window_hours)
            feats = variable_of == v
            if len(stay):
                before[feats] = tensors.values[stay[0], step[0], feats]
            else:  # measured from the first hour in every stay: the train mean is the nearest
                log.warning("variable %s is measured in the first bin of every stay; its removed "
                            "measurements are replaced by the train mean", name)
        return cls(variable_of, before, cfg.bin_hours, cfg.window_hours, cfg.impute)


def window_cells(masks: np.ndarray, bins_per_window: int) -> list[tuple[int, int]]:
    """(window, variable) pairs with a measurement, for one stay's masks (T, V)."""
    t, v = masks.shape
    n_windows = -(-t // bins_per_window)
    padded = np.zeros((n_windows * bins_per_window, v), dtype=bool)
    padded[:t] = masks > 0
    measured = padded.reshape(n_windows, bins_per_window, v).any(1)  # (W, V)
    return [(int(w), int(j)) for w, j in zip(*np.nonzero(measured))]


def without_measurements(values: np.ndarray, masks: np.ndarray, deltas: np.ndarray,
                         layout: SeriesLayout, variable: int, start: int,
                         end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One stay's (values (T, F), masks (T, V), deltas (T, V)) as the discretizer would have
    written them without ``variable``'s measurements in bins ``[start, end)``."""
    values, masks, deltas = values.copy(), masks.copy(), deltas.copy()
    seen = masks[:, variable] > 0
    seen[start:end] = False
    steps = np.arange(len(seen))
    last = np.maximum.accumulate(np.where(seen, steps, -1))  # last measured bin, -1: none yet
    feats = np.flatnonzero(layout.variable_of == variable)
    if layout.impute == "forward":
        carried = values[np.maximum(last, 0)][:, feats]
        values[:, feats] = np.where(last[:, None] >= 0, carried, layout.before_first[feats])
    else:
        values[:, feats] = np.where(seen[:, None], values[:, feats], layout.before_first[feats])
    masks[:, variable] = seen
    deltas[:, variable] = np.where(
        last >= 0, np.minimum((steps - last) * layout.bin_hours, layout.window_hours),
        layout.window_hours)
    return values, masks, deltas


def series_effects(model: torch.nn.Module, batch: dict[str, torch.Tensor], task: int,
                   layout: SeriesLayout, cells: Sequence[Sequence[tuple[int, int]]],
                   bins_per_window: int, base: np.ndarray) -> list[np.ndarray]:
    """Per stay i, the effect of each (window, variable) of ``cells[i]``: ``base[i]`` minus
    the risk without that variable's measurements in that window."""
    rows = [i for i, stay in enumerate(cells) for _ in stay]
    copies = _copies(batch, rows)
    c = 0
    for i, stay in enumerate(cells):
        arrays = [batch[k][i].numpy() for k in ("values", "masks", "deltas")]
        for window, variable in stay:
            start, end = window * bins_per_window, (window + 1) * bins_per_window
            changed = without_measurements(*arrays, layout, variable, start, end)
            for key, array in zip(("values", "masks", "deltas"), changed):
                copies[key][c] = torch.from_numpy(array)
            c += 1
    without = risks(model, copies, task) if rows else np.zeros(0)
    return _split(base[rows] - without, [len(s) for s in cells])
