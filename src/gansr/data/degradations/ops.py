"""Degradation operations on ``(1,3,H,W)`` float tensors in [0,1] on the training device (kornia + torch).

Each takes its random numbers from the caller (drawn per sample, see :mod:`gansr.data.degradations.base`), so a
sample's degradation is a pure function of the seed and its stream position.
"""
from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["blur", "decimate", "gaussian_noise", "jpeg", "poisson_noise", "quantize", "resize"]


def blur(image: Tensor, kernel: Tensor, border: str = "reflect") -> Tensor:
    """Correlate ``image (B,C,H,W)`` with ``kernel (k,k)`` (same size out), kornia ``filter2d``.

    ``border``: ``"reflect"`` (Real-ESRGAN's ``filter2D`` pads with reflect) or ``"replicate"`` (MATLAB
    ``imfilter(..., 'replicate')``, the BD degradation). An image not larger than the kernel's half-width (a small
    patch shrunk by the random resize) cannot be reflected and is replicated instead."""
    if border == "reflect" and min(image.shape[-2:]) <= kernel.shape[-1] // 2:
        border = "replicate"
    return kornia.filters.filter2d(image, kernel[None].to(image.dtype), border_type=border)


def decimate(image: Tensor, scale: int) -> Tensor:
    """Keep every ``scale``-th pixel starting at ``scale // 2``: MATLAB ``imresize(img, 1/s, 'nearest')``, whose
    output pixel ``j`` (0-based) reads input ``s*j + floor(s/2)`` (the BD degradation's down-sampling)."""
    offset = scale // 2
    return image[..., offset::scale, offset::scale]


def resize(image: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """Resize to ``size`` ``(h, w)`` with ``mode`` in ``area | bilinear | bicubic`` (kornia ``resize``; ``area`` is
    ``F.interpolate``'s, as Real-ESRGAN)."""
    if mode == "area":
        return F.interpolate(image, size=size, mode="area")
    return kornia.geometry.transform.resize(image, size, interpolation=mode, align_corners=False)


def gaussian_noise(image: Tensor, sigma: float, gray: bool, generator: torch.Generator) -> Tensor:
    """Add N(0, sigma^2) noise (``sigma`` in [0,1] units), the same for all channels when ``gray``; clip to [0,1]."""
    b, c, h, w = image.shape
    noise = torch.randn((b, 1 if gray else c, h, w), generator=generator, device=image.device, dtype=image.dtype)
    return (image + sigma * noise).clamp(0, 1)


def poisson_noise(image: Tensor, scale: float, gray: bool, generator: torch.Generator) -> Tensor:
    """Real-ESRGAN's Poisson (shot) noise: counts of ``2^ceil(log2(#levels))`` photons per unit intensity on the
    8-bit image, the noise ``scale``-times amplified; of the luma only when ``gray``. Clipped to [0,1]."""
    base = (image * 255).round().clamp(0, 255) / 255
    if gray:
        base = kornia.color.rgb_to_grayscale(base)
    levels = 2 ** torch.ceil(torch.log2(torch.tensor(float(torch.unique(base).numel()))))
    counts = torch.poisson(base * levels, generator=generator) / levels
    return (image + scale * (counts - base)).clamp(0, 1)


def jpeg(image: Tensor, quality: float) -> Tensor:
    """JPEG compress-decompress at ``quality`` (kornia ``jpeg_codec_differentiable``: the standard tables, 4:2:0;
    its rounding is smoothed, so it differs slightly from libjpeg, see docs/methods.md)."""
    quality_t = torch.full((image.shape[0],), float(quality), device=image.device, dtype=image.dtype)
    return kornia.enhance.jpeg_codec_differentiable(image.clamp(0, 1), quality_t).clamp(0, 1)


def quantize(image: Tensor) -> Tensor:
    """Round to 8-bit levels, as an LR image saved to PNG would be."""
    return (image.clamp(0, 1) * 255).round() / 255
