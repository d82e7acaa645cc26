"""Total-variation loss (anisotropic L1), as used by PESR (docs/methods.md §3).

PESR: ``TV = sum|dx| + sum|dy|`` summed (not averaged) over batch, channels and pixels, weight 1e-6 on
[0,255] data, i.e. weight 2.55e-4 on [0,1] data (still a sum; docs/methods.md §8.1).
"""

from __future__ import annotations

import torch
from torch import nn

REDUCTIONS = ("sum", "mean")


def total_variation(x: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """Anisotropic TV of ``x (B,C,H,W)`` -> scalar.

    ``"sum"``: ``sum|x[..., 1:, :] - x[..., :-1, :]| + sum|x[..., :, 1:] - x[..., :, :-1]|`` (PESR).
    ``"mean"``: the same two terms, each averaged over its own elements (size-independent).
    """
    if x.ndim != 4:
        raise ValueError(f"total_variation expects (B,C,H,W), got shape {tuple(x.shape)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"TV reduction must be one of {REDUCTIONS}, got {reduction!r}")
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs()
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs()
    if reduction == "sum":
        return dy.sum() + dx.sum()
    return dy.mean() + dx.mean()


class TVLoss(nn.Module):
    """``weight * total_variation(sr, reduction)``. Shape: sr ``(B,C,H,W)`` -> scalar (already weighted)."""

    def __init__(self, weight: float, reduction: str = "sum") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"TVLoss reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.weight = float(weight)
        self.reduction = reduction

    def forward(self, sr: torch.Tensor) -> torch.Tensor:
        return self.weight * total_variation(sr, self.reduction)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, reduction={self.reduction!r}"
