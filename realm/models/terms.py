"""Optional logit terms of REALM: small linear units added to the network's logits.

Each term is a frozen dataclass of its settings, named in YAML under the model's init args
(``wide_summary``, ``wide_entities``, ``linear_prior``, ``aux_targets``; ``null`` leaves it
out), whose ``build`` makes the ``nn.Module`` once the sizes linked from the data are known.
The network's core (realm.models.realm_model) never depends on which terms are present.

- :class:`WideSummaryTerm`: a logistic regression on the summary statistics, trained jointly.
- :class:`WideEntitiesTerm`: a logistic regression on the summed node vectors of the present
  entities, trained jointly, with its own ridge penalty.
- :class:`LinearPriorTerm`: a ridge logistic regression fitted convexly on the train split
  before training, then held fixed (realm.models.linear_prior).
- :class:`AuxTargetsHead`: not a logit term but a training signal: a linear head predicting
  auxiliary targets (realm.features.aux_targets) whose masked MSE joins the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from realm.errors import ConfigError
from realm.features.schema import PRESENT_CODE
from realm.models.linear_prior import LinearPrior, PriorSummary

__all__ = ["WideSummaryTerm", "WideEntitiesTerm", "LinearPriorTerm", "AuxTargetsHead",
           "WideSummary", "WideEntities"]


def summary_inputs(values: Tensor, present: Tensor, statics: Tensor, in_dim: int) -> Tensor:
    """``[values ; present ; statics]`` flattened: (B, V, S), (B, V), (B, S') -> (B, V(S+1) + S')."""
    x = torch.cat([values.flatten(1), present, statics], dim=-1)
    if x.shape[-1] != in_dim:
        raise ConfigError(f"summary inputs have {x.shape[-1]} columns, the model expects "
                          f"{in_dim}; use realm.features.summary.SummaryProvider")
    return x


class WideSummary(nn.Module):
    """``W drop([values ; present ; statics]) + b``: (B, V, S), (B, V), (B, S') -> (B, K).

    The wide half of a wide-and-deep model: a logistic regression on the summary statistics,
    trained jointly with the network and added to its logits. Zero-initialised, so training
    starts from the network alone.
    """

    def __init__(self, n_variables: int, n_stats: int, n_statics: int, n_tasks: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim = n_variables * (n_stats + 1) + n_statics
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(self.in_dim, n_tasks)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, values: Tensor, present: Tensor, statics: Tensor) -> Tensor:
        return self.linear(self.dropout(summary_inputs(values, present, statics, self.in_dim)))  # (B, K)


class WideEntities(nn.Module):
    """``W drop(sum_{present} v_e) + b``: (B, E, D), (B, E), (B, E) -> (B, K).

    The wide half for the entity set: a logistic regression on the sum of the node vectors of
    a stay's *present* entities, trained jointly and added to the logits. Negated, historical,
    family and hypothetical entities stay out of the sum ("no pneumonia" adds nothing here;
    the deep entity encoder reads them with their assertion). Why linear in the node vectors:
    a node no training stay has (a held-out code) still gets a weight, through the text and
    ancestor parts of its vector that it shares with its trained siblings, and with a few
    hundred positives a linear map of them carried held-out codes to the test split better
    than the deep set encoder alone (BENCHMARKS.md, synthetic hospital). Zero-initialised;
    :meth:`penalty` is the ridge term ``l2 * ||W||^2`` the training loss adds.
    """

    def __init__(self, node_dim: int, n_tasks: int, dropout: float = 0.0, l2: float = 0.0) -> None:
        super().__init__()
        if l2 < 0:
            raise ConfigError(f"WideEntities l2 must be >= 0, got {l2}")
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(node_dim, n_tasks)
        self.l2 = l2
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, vectors: Tensor, assertion: Tensor, mask: Tensor) -> Tensor:
        present = (mask & (assertion == PRESENT_CODE)).unsqueeze(-1).to(vectors.dtype)  # (B, E, 1)
        return self.linear(self.dropout((vectors * present).sum(1)))  # (B, K)

    def penalty(self) -> Tensor:
        """``l2 * ||W||^2`` (bias excluded): the ridge term of the logistic regression."""
        return self.l2 * self.linear.weight.pow(2).sum()


@dataclass(frozen=True)
class WideSummaryTerm:
    """A linear term on the logits from the summary modality (SummaryProvider's per-variable
    statistics, its factor rows and the statics), trained jointly with the network.

    Attributes:
        dropout: each summary input hidden independently in training.
    """

    dropout: float = 0.1

    def build(self, n_rows: int, n_stats: int, n_statics: int, n_tasks: int) -> WideSummary:
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"wide_summary.dropout must lie in [0, 1), got {self.dropout}")
        return WideSummary(n_rows, n_stats, n_statics, n_tasks, self.dropout)


@dataclass(frozen=True)
class WideEntitiesTerm:
    """A linear term on the logits from the summed node vectors of a stay's present entities
    (after entity and modality dropout), trained jointly (:class:`WideEntities`).

    Attributes:
        l2: ridge penalty on its weights, added to the training loss (with a few hundred
            positives it needs far more shrinkage than AdamW's decoupled weight decay gives).
    """

    l2: float = 0.0

    def build(self, node_dim: int, n_tasks: int, dropout: float) -> WideEntities:
        return WideEntities(node_dim, n_tasks, dropout, self.l2)


@dataclass(frozen=True)
class LinearPriorTerm:
    """A fixed linear term fitted convexly on the train split when training starts
    (realm.models.linear_prior.LinearPrior): the network learns the residual.

    Attributes:
        summary: what of the summary the prior reads besides the entity vectors and statics:
            ``factors`` (the factor scores; the data needs SummaryProvider n_factors >= 1),
            ``all`` statistics, or ``none``.
    """

    summary: PriorSummary = "factors"

    def build(self, n_tasks: int, use_entities: bool, n_factors: int) -> LinearPrior:
        return LinearPrior(n_tasks, use_entities, self.summary, n_factors)


@dataclass(frozen=True)
class AuxTargetsHead:
    """Auxiliary regression targets (``aux_values`` of realm.features.aux_targets) a linear head
    predicts from the fused representation; their masked mean squared error, times
    ``weight``, joins the training loss. Targets only: the forward pass never reads them.

    Attributes:
        weight: weight of the auxiliary loss (:meth:`mse` times it joins the loss).
    """

    weight: float = 0.3

    def build(self, hidden: int, n_targets: int) -> nn.Linear:
        if self.weight < 0:
            raise ConfigError(f"aux_targets.weight must be >= 0, got {self.weight}")
        if n_targets < 1:
            raise ConfigError("aux_targets needs auxiliary target columns: add "
                              "realm.features.aux_targets.AuxTargetProvider to data.extra_modalities")
        return nn.Linear(hidden, n_targets)

    @staticmethod
    def mse(predicted: Tensor, target: Tensor) -> Tensor:
        """The mean squared error over the defined (finite) targets (B, A)."""
        if target.shape[-1] != predicted.shape[-1]:
            raise ConfigError(f"the aux head predicts {predicted.shape[-1]} targets but the batch "
                              f"has {target.shape[-1]} auxiliary target columns")
        defined = torch.isfinite(target)
        error = (predicted - torch.where(defined, target, 0.0)) ** 2 * defined
        return error.sum() / defined.sum().clamp(min=1)


# Checkpoints keep these settings in their hyperparameters; torch's weights-only loader
# refuses unknown classes unless declared safe.
torch.serialization.add_safe_globals([WideSummaryTerm, WideEntitiesTerm, LinearPriorTerm, AuxTargetsHead])
