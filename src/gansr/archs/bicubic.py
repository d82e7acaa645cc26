"""Bicubic up-scaling as a "generator": the baseline row of every SR table (docs/methods.md §2.8).

MATLAB-exact ``imresize(img, scale, 'bicubic')`` (antialiasing is irrelevant when up-scaling) from
:func:`gansr.data.imresize.imresize`, applied on float values; callers quantise to uint8 levels for metrics.
"""

from __future__ import annotations

import torch
from torch import nn

from gansr.data.imresize import imresize


class BicubicUpsampler(nn.Module):
    """``lr -> imresize(lr, scale)``. It has no parameters: nothing to train, nothing to load; use it for
    evaluation/upscaling only (an optimizer over it would be empty).

    Args:
        scale: up-scaling factor (4).

    Shape: ``(B,C,h,w) -> (B,C,scale*h,scale*w)``, float values (not clamped; bicubic can overshoot [0,1]).
    """

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
