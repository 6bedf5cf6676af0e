"""A linear prior on REALM's logits: a ridge logistic regression fitted convexly before training.

With a few hundred positives the network fits the *linear* part of the risk (how much each
condition and the overall severity add) worse than a regression does: on the 10,000-stay
synthetic hospital an L2 logistic regression on the summed node vectors of a stay's present
entities, a label-free severity factor and the statics scored 0.014 validation AUROC above
REALM on mortality, although REALM reads the same inputs through its wide terms
(BENCHMARKS.md). So the linear part is fitted the way a regression is fitted, by convex
optimisation with its penalty chosen by cross-validation, and the network learns the rest:

    logits = network(batch) + W x + b,   x = [sum_{present e} v_e ; factor scores ; statics]

:meth:`LinearPrior.fit` reads the *train split only*: one L2 logistic regression per task
(standardised inputs, ``C`` from :data:`PENALTY_GRID` chosen by stratified 5-fold
cross-validation on the train stays' log loss), then folds the standardisation into ``W`` and ``b``. They are buffers, not
parameters: saved in checkpoints, never moved by the optimiser (the network would otherwise
drift them back towards the fit it does worse). The prior reads the batch's own entity mask,
never the one after modality or entity dropout, so it is the same function in training and at
prediction; occluding an entity in an explanation changes it as it should.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from realm.errors import ConfigError, DataError
from realm.features.schema import PRESENT_CODE
from realm.models.module import check_finite

__all__ = ["LinearPrior", "PriorSummary", "PENALTY_GRID"]

#: Inverse ridge penalties C tried by the cross-validation (standardised inputs).
PENALTY_GRID: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 1, 11))

#: What of the summary modality the prior reads: the factor scores (SummaryProvider with
#: ``n_factors``), every statistic, or nothing.
PriorSummary = Literal["factors", "all", "none"]


class LinearPrior(nn.Module):
    """``W x + b`` on (entities, summary, statics) inputs; see the module docstring.

    Args:
        n_tasks: K, one logit per task.
        use_entities: read the summed node vectors of the present entities.
        summary: which summary inputs to read (:data:`PriorSummary`).
        n_factors: factor pseudo-variables at the end of ``summary_values`` (needed with
            ``summary="factors"``).
        seed: seed of the cross-validation folds.
    """

    def __init__(self, n_tasks: int, use_entities: bool = True, summary: PriorSummary = "factors",
                 n_factors: int = 0, seed: int = 0) -> None:
        super().__init__()
        if summary not in ("factors", "all", "none"):
            raise ConfigError(f"linear prior summary must be factors, all or none, not {summary!r}")
        if summary == "factors" and n_factors < 1:
            raise ConfigError("a linear prior on the summary factors needs summary_factors >= 1")
        self.n_tasks, self.use_entities, self.summary = n_tasks, use_entities, summary
        self.n_factors, self.seed = n_factors, seed
        # sized on the first fit (the input width depends on the data's vector sizes)
        self.register_buffer("weight", torch.zeros(n_tasks, 0))
        self.register_buffer("bias", torch.zeros(n_tasks))
        self.register_buffer("fitted", torch.tensor(False))
        self.penalty_c: list[float] = []

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # a fitted checkpoint's weight is (K, D); resize the empty buffer before loading it
        saved = state_dict.get(prefix + "weight")
        if saved is not None and saved.shape != self.weight.shape:
            self.weight = torch.zeros_like(saved)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def inputs(self, batch: dict[str, Tensor]) -> Tensor:
        """x (B, D): the prior's inputs from a batch (the keys its settings need)."""
        parts = []
        if self.use_entities:
            if "entities_vectors" not in batch:
                raise ConfigError("the linear prior reads entities: add EntityProvider to data.extra_modalities")
            present = batch["entities_mask"] & (batch["entities_assertion"] == PRESENT_CODE)  # (B, E)
            parts.append((batch["entities_vectors"] * present.unsqueeze(-1)).sum(1))  # (B, D)
        if self.summary != "none":
            if "summary_values" not in batch:
                raise ConfigError("the linear prior reads the summary: add SummaryProvider to data.extra_modalities")
            values, present = batch["summary_values"], batch["summary_present"]  # (B, V, S), (B, V)
            if self.summary == "factors":
                if values.shape[1] < self.n_factors:
                    raise ConfigError(f"the batch has {values.shape[1]} summary rows, fewer than the "
                                      f"prior's {self.n_factors} factors")
                parts.append(values[:, -self.n_factors:, 0])  # (B, F): the scores sit in column 0
            else:
                parts.append(torch.cat([values.flatten(1), present], -1))  # (B, V(S+1))
        parts.append(batch["statics"])  # (B, S')
        return torch.cat(parts, -1).float()

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        if not bool(self.fitted):
            raise ConfigError("the linear prior is not fitted: train the model (fit) or load a "
                              "checkpoint of a trained one")
        check_finite(batch, ("entities_vectors", "summary_values", "statics"))  # absent keys skipped
        x = self.inputs(batch)
        if x.shape[-1] != self.weight.shape[1]:
            raise ConfigError(f"the linear prior was fitted on {self.weight.shape[1]} inputs, the "
                              f"batch gives {x.shape[-1]}")
        return x @ self.weight.T + self.bias  # (B, K)

    @torch.no_grad()
    def fit(self, batches: Iterable[dict[str, Tensor]]) -> None:
        """Fit W and b on these (train split) batches: a cross-validated ridge logistic
        regression per task on the stays whose label is defined."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        xs, ys, ms = [], [], []
        for batch in batches:
            xs.append(self.inputs(batch).double().numpy())
            ys.append(batch["labels"].numpy())
            ms.append(batch["label_mask"].numpy().astype(bool))
        if not xs:
            raise DataError("the linear prior got no training batches", field="split")
        x, y, m = np.concatenate(xs), np.concatenate(ys), np.concatenate(ms)
        if not np.isfinite(x).all():
            raise DataError("non-finite linear prior inputs in the train split", field="inputs")
        mean, sd = x.mean(0), x.std(0)
        sd = np.where(sd > 1e-12, sd, 1.0)
        z = (x - mean) / sd
        weight = np.zeros((self.n_tasks, x.shape[1]))
        bias = np.zeros(self.n_tasks)
        self.penalty_c = []
        for k in range(self.n_tasks):
            rows = m[:, k]
            labels = y[rows, k].astype(int)
            counts = np.bincount(labels, minlength=2)
            if counts.min() < 5:
                raise DataError(f"task {k}: {counts.tolist()} train stays per class are too few "
                                "for the linear prior's 5-fold cross-validation", field="labels")
            # the grid by hand, not LogisticRegressionCV: its arguments change between
            # scikit-learn releases (1.8-1.10 deprecate three), this is stable
            folds = StratifiedKFold(5, shuffle=True, random_state=self.seed)
            loss = {c: cross_val_score(LogisticRegression(C=c, max_iter=5000), z[rows], labels,
                                       cv=folds, scoring="neg_log_loss").mean() for c in PENALTY_GRID}
            best = max(loss, key=loss.get)
            model = LogisticRegression(C=best, max_iter=5000).fit(z[rows], labels)
            coef = model.coef_[0]
            weight[k] = coef / sd
            bias[k] = model.intercept_[0] - float(coef @ (mean / sd))
            self.penalty_c.append(float(best))
        self.weight = torch.as_tensor(weight, dtype=torch.float32)
        self.bias = torch.as_tensor(bias, dtype=torch.float32)
        self.fitted = torch.tensor(True)
