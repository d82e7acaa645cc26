"""Luma (Y) of MATLAB's ``rgb2ycbcr``, the channel every SR paper's PSNR/SSIM/NIQE/Ma is measured on.

MATLAB ``rgb2ycbcr`` (ITU-R BT.601, studio range), docs/methods.md §2.7:
``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1], so Y lies in [16, 235].
For a double image MATLAB returns Y/255 unrounded (BasicSR's ``to_y_channel`` multiplies back by 255); for a uint8
image it returns Y rounded to integers (PIRM / FASRGAN ``convert_shave_image.m``, used for NIQE, Ma and RMSE).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rgb2y"]

_Y_WEIGHTS = (65.481, 128.553, 24.966)  # R, G, B; MATLAB rgb2ycbcr, BT.601
_Y_OFFSET = 16.0


def rgb2y(img: Tensor, *, round: bool = False) -> Tensor:
    """MATLAB ``rgb2ycbcr`` luma in float64 on the [0, 255] scale: ``(B,3,H,W)`` RGB in [0,1] -> ``(B,1,H,W)`` in [16,235].

    Args:
        img: RGB images in [0, 1] (any float dtype; computed in float64 so results match the numpy/CPU reference).
        round: round to integers as MATLAB does for uint8 input (half away from zero, like MATLAB ``round``).
    """
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"rgb2y expects RGB images (B,3,H,W), got shape {tuple(img.shape)}")
    weights = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=img.device).view(1, 3, 1, 1)
    y = _Y_OFFSET + (img.to(torch.float64) * weights).sum(dim=1, keepdim=True)
    return torch.floor(y + 0.5) if round else y
