"""Time-series encoders: binned values, masks, deltas and statics -> states and a summary.

Every encoder has the same interface, so a model takes any of them from config::

    states, pooled = encoder(values, masks, deltas, statics)
    # values (B, T, F), masks (B, T, V), deltas (B, T, V) hours, statics (B, S)
    # -> states (B, T, H), pooled (B, H);  H = encoder.out_dim

Models receive an encoder *factory* (``EncoderFactory``): the class with its
hyperparameters bound in YAML, called with the data-derived sizes. That way the sizes are
linked from the DataModule, never typed twice.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from realm.errors import ConfigError

__all__ = ["TimeSeriesEncoder", "GRUEncoder", "TransformerEncoder", "EncoderFactory"]


class TimeSeriesEncoder(nn.Module):
    """Base of the encoders: shared input embedding of one bin."""

    out_dim: int

    def __init__(self, n_features: int, n_variables: int, n_statics: int) -> None:
        super().__init__()
        if min(n_features, n_variables) < 1 or n_statics < 0:
            raise ConfigError(
                f"{type(self).__name__}: need n_features, n_variables >= 1 and n_statics >= 0 "
                f"(got {n_features}, {n_variables}, {n_statics})"
            )
        self.n_features, self.n_variables, self.n_statics = n_features, n_variables, n_statics
        self.in_dim = n_features + 2 * n_variables

    @staticmethod
    def bin_inputs(values: Tensor, masks: Tensor, deltas: Tensor) -> Tensor:
        # log1p keeps 0-48 h deltas on the scale of z-scored values.
        return torch.cat([values, masks, torch.log1p(deltas)], dim=-1)  # (B, T, F + 2V)


class GRUEncoder(TimeSeriesEncoder):
    """A GRU over the bins; statics set its initial state.

    Args:
        hidden: state size H.
        layers: stacked GRU layers.
        dropout: dropout on the inputs and between layers.
    """

    def __init__(
        self, n_features: int, n_variables: int, n_statics: int,
        hidden: int = 64, layers: int = 1, dropout: float = 0.1,
    ) -> None:
        super().__init__(n_features, n_variables, n_statics)
        self.out_dim = hidden
        self.layers = layers
        self.dropout = nn.Dropout(dropout)
        self.h0 = nn.Linear(max(n_statics, 1), hidden * layers)
        self.gru = nn.GRU(self.in_dim, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)

    def forward(self, values: Tensor, masks: Tensor, deltas: Tensor, statics: Tensor
                ) -> tuple[Tensor, Tensor]:
        x = self.dropout(self.bin_inputs(values, masks, deltas))  # (B, T, F + 2V)
        b = x.shape[0]
        if statics.shape[-1] == 0:
            statics = statics.new_zeros(b, 1)
        h0 = torch.tanh(self.h0(statics))  # (B, layers * H)
        h0 = h0.view(b, self.layers, self.out_dim).transpose(0, 1).contiguous()  # (L, B, H)
        states, last = self.gru(x, h0)  # (B, T, H), (L, B, H)
        return states, last[-1]  # (B, T, H), (B, H)


class SinusoidalPosition(nn.Module):
    """Fixed sinusoidal encoding of the bin index (Vaswani et al.)."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)  # (max_len, 1)
        scale = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        table = torch.zeros(max_len, dim)
        table[:, 0::2] = torch.sin(position * scale)
        table[:, 1::2] = torch.cos(position * scale[: dim // 2])
        self.register_buffer("table", table, persistent=False)  # (max_len, D)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] > self.table.shape[0]:
            raise ConfigError(f"{x.shape[1]} bins exceed max_len {self.table.shape[0]}")
        return x + self.table[: x.shape[1]]  # (B, T, D)


class TransformerEncoder(TimeSeriesEncoder):
    """A Transformer over the bins; a statics token in front is the pooled summary.

    Args:
        hidden: model width H (divisible by ``heads``).
        layers: encoder layers.
        heads: attention heads.
        dropout: dropout in attention and feed-forward blocks.
        max_len: most bins the positional encoding covers.
    """

    def __init__(
        self, n_features: int, n_variables: int, n_statics: int,
        hidden: int = 64, layers: int = 2, heads: int = 4, dropout: float = 0.1,
        max_len: int = 512,
    ) -> None:
        super().__init__(n_features, n_variables, n_statics)
        if hidden % heads:
            raise ConfigError(f"TransformerEncoder: hidden {hidden} not divisible by heads {heads}")
        self.out_dim = hidden
        self.embed = nn.Linear(self.in_dim, hidden)
        self.static_token = nn.Linear(max(n_statics, 1), hidden)
        self.position = SinusoidalPosition(hidden, max_len)
        layer = nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=2 * hidden,
                                           dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, values: Tensor, masks: Tensor, deltas: Tensor, statics: Tensor
                ) -> tuple[Tensor, Tensor]:
        x = self.position(self.embed(self.bin_inputs(values, masks, deltas)))  # (B, T, H)
        if statics.shape[-1] == 0:
            statics = statics.new_zeros(x.shape[0], 1)
        token = self.static_token(statics).unsqueeze(1)  # (B, 1, H)
        out = self.encoder(torch.cat([token, x], dim=1))  # (B, 1 + T, H)
        return out[:, 1:], out[:, 0]  # (B, T, H), (B, H)


#: An encoder class with its hyperparameters bound, called as f(n_features, n_variables, n_statics).
EncoderFactory = Callable[[int, int, int], TimeSeriesEncoder]
