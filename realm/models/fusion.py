"""Building blocks of the REALM model: masked attention, the entity-set encoder, the gate.

Every block takes key padding masks and is safe on fully masked key sets: a stay with no
entities (or no notes) gets a zero context vector, never NaN. In dependency order:

- :class:`MaskedAttention`: multi-head scaled dot-product attention over many keys with a
  key padding mask; returns the head-averaged weights for explanations.
- :class:`CrossBlock`: ``LN(x + MHA(x, context))`` then ``LN(x + FFN(x))``.
- :class:`AttentionPool`: a learned query attends over a token set -> one summary.
- :class:`EntityEncoder`: entity tokens from node vectors, type, assertion and numbers, then
  a small set transformer (self-attention blocks over the set).
- :class:`StatsEncoder`: per-feature statistics of the binned series -> one vector.
- :class:`ModalityGate`: softmax over the *present* modalities' summaries.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from realm.errors import ConfigError
from realm.features.schema import N_ASSERTIONS, N_ENTITY_NUMBERS

__all__ = ["MaskedAttention", "CrossBlock", "AttentionPool", "EntityEncoder", "StatsEncoder",
           "ModalityGate"]

class MaskedAttention(nn.Module):
    """Multi-head attention of queries (B, Q, H) over keys (B, K, H) with mask (B, K)."""

    def __init__(self, hidden: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden % heads:
            raise ConfigError(f"hidden {hidden} is not divisible by heads {heads}")
        self.heads, self.head_dim = heads, hidden // heads
        self.q, self.k, self.v = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (B, heads, N, d)

    def forward(self, query: Tensor, keys: Tensor, key_mask: Tensor) -> tuple[Tensor, Tensor]:
        q, k, v = self._split(self.q(query)), self._split(self.k(keys)), self._split(self.v(keys))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, heads, Q, K)
        mask = key_mask[:, None, None, :]  # (B, 1, 1, K)
        # softmax over an all -inf row is NaN; give such rows finite scores, then zero them.
        has_key = key_mask.any(dim=1)[:, None, None, None]  # (B, 1, 1, 1)
        scores = scores.masked_fill(~mask, float("-inf")).masked_fill(~has_key, 0.0)
        weights = torch.softmax(scores, dim=-1) * has_key  # (B, heads, Q, K), rows sum to 1 or 0
        context = self.dropout(weights) @ v  # (B, heads, Q, d)
        context = context.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)  # (B, Q, H)
        return self.out(context), weights.mean(dim=1)  # (B, Q, H), (B, Q, K)


class CrossBlock(nn.Module):
    """Post-norm transformer block whose attention reads another sequence (or itself)."""

    def __init__(self, hidden: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = MaskedAttention(hidden, heads, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(2 * hidden, hidden))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor) -> tuple[Tensor, Tensor]:
        attended, weights = self.attn(x, context, context_mask)  # (B, Q, H), (B, Q, K)
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.dropout(self.ffn(x))), weights  # (B, Q, H)


class AttentionPool(nn.Module):
    """A learned query attends over a token set: (B, N, H), mask (B, N) -> (B, H), (B, N)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, hidden) / math.sqrt(hidden))
        self.attn = MaskedAttention(hidden, heads)

    def forward(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        query = self.query.expand(tokens.shape[0], -1, -1)  # (B, 1, H)
        pooled, weights = self.attn(query, tokens, mask)
        return pooled[:, 0], weights[:, 0]  # (B, H), (B, N)


class EntityEncoder(nn.Module):
    """Entity tokens: ``W [text ; struct] + E_type + E_assertion + MLP(numbers)``, then
    ``layers`` self-attention blocks over the set (a small set transformer, no positions:
    a set has no order)."""

    def __init__(self, node_dim: int, n_types: int, hidden: int, heads: int, layers: int = 1,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.node_dim = node_dim
        self.node = nn.Sequential(nn.Linear(node_dim, hidden), nn.LayerNorm(hidden))
        self.type_embed = nn.Embedding(n_types, hidden, padding_idx=0)
        # A separate embedding: a negated entity differs from a present one by a learned
        # vector, not by a sign flip the set encoder could average away.
        self.assertion_embed = nn.Embedding(N_ASSERTIONS, hidden, padding_idx=0)
        self.numbers = nn.Sequential(nn.Linear(N_ENTITY_NUMBERS, hidden), nn.GELU(),
                                     nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList(CrossBlock(hidden, heads, dropout) for _ in range(layers))

    def forward(self, vectors: Tensor, types: Tensor, assertions: Tensor, numbers: Tensor,
                mask: Tensor) -> Tensor:
        if vectors.shape[-1] != self.node_dim:
            raise ConfigError(f"entity vectors have {vectors.shape[-1]} dims, the model expects "
                              f"node_dim={self.node_dim}; set the same node_dim on EntityProvider")
        x = (self.node(vectors) + self.type_embed(types) + self.assertion_embed(assertions)
             + self.numbers(numbers))  # (B, E, H)
        for block in self.blocks:
            x, _ = block(x, x, mask)  # (B, E, H)
        return x * mask.unsqueeze(-1)  # padding rows stay exactly zero


class StatsEncoder(nn.Module):
    """Mean, min, max, last of every binned feature and log observation counts -> (B, H).

    The recurrent encoder summarises dynamics; these order-free statistics are what the
    tabular baselines thrive on, and giving them to the network directly costs little.
    """

    def __init__(self, n_features: int, n_variables: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4 * n_features + n_variables, hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, hidden))

    def forward(self, values: Tensor, masks: Tensor) -> Tensor:
        stats = torch.cat([values.mean(1), values.amin(1), values.amax(1), values[:, -1],
                           torch.log1p(masks.sum(1))], dim=-1)  # (B, 4F + V)
        return self.net(stats)  # (B, H)


class ModalityGate(nn.Module):
    """Per-stay weights over M modality summaries, from their concatenation.

    ``g = softmax_{present}(W [s_1; ...; s_M] + b)``: absent modalities get weight 0 and the
    present ones sum to 1 (all-absent rows get all zeros).
    """

    def __init__(self, hidden: int, n_modalities: int) -> None:
        super().__init__()
        self.score = nn.Linear(hidden * n_modalities, n_modalities)

    def forward(self, summaries: Tensor, present: Tensor) -> Tensor:
        # summaries (B, M, H), present (B, M) bool
        logits = self.score(summaries.flatten(1))  # (B, M)
        any_present = present.any(dim=1, keepdim=True)  # (B, 1)
        logits = logits.masked_fill(~present, float("-inf")).masked_fill(~any_present, 0.0)
        return torch.softmax(logits, dim=-1) * any_present  # (B, M)
