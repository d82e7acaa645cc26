"""Pixel loss: weighted L1 or MSE between the SR output and the HR target.

ESRGAN/FASRGAN: L1 with weight 1e-2 on [0,1] data (docs/methods.md §1.4, 2.4). PESR and EDSR-GAN work on
[0,255] data; on [0,1] tensors their L1 weights become 255 and 25.5 (docs/methods.md §8.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CRITERIA = ("l1", "mse")


class PixelLoss(nn.Module):
    """``weight * mean(|sr - hr|)`` (criterion ``"l1"``) or ``weight * mean((sr - hr)^2)`` (``"mse"``).

    Shape: sr, hr ``(B,C,H,W)`` (same shape) -> scalar (already weighted).
    """

    def __init__(self, weight: float = 1e-2, criterion: str = "l1") -> None:
        super().__init__()
        if criterion not in CRITERIA:
            raise ValueError(f"PixelLoss criterion must be one of {CRITERIA}, got {criterion!r}")
        self.weight = float(weight)
        self.criterion = criterion

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(
                f"PixelLoss needs sr and hr of the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
            )
        loss = F.l1_loss(sr, hr) if self.criterion == "l1" else F.mse_loss(sr, hr)
        return self.weight * loss

    def extra_repr(self) -> str:
        return f"weight={self.weight}, criterion={self.criterion!r}"
