"""Full-reference fidelity metrics with the MATLAB / BasicSR conventions of the SR papers (docs/methods.md §1.8, 2.7).

All functions take ``sr`` and ``hr`` as ``(B,3,H,W)`` RGB tensors in [0, 1] and return one float64 value per image,
``(B,)``. Conventions, all explicit:
  * ``crop_border`` pixels are removed from each side **before** the Y conversion (use ``crop_border = scale``);
  * ``y_channel=True``: MATLAB ``rgb2ycbcr`` luma, float64, x255, not rounded (:func:`gansr.metrics.color.rgb2y`);
    ``y_channel=False``: the three RGB channels on [0, 255];
  * no quantisation: call :func:`quantize` first to score 8-bit images (BasicSR ``tensor2img``); the torchmetrics
    classes in :mod:`gansr.metrics.collection` do it for you.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gansr.metrics.color import rgb2y

__all__ = ["mse", "psnr", "quantize", "rmse", "ssim"]

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1, _SSIM_K2 = 0.01, 0.03
_DATA_RANGE = 255.0


def quantize(x: Tensor) -> Tensor:
    """Clamp to [0, 1] and round to the 256 levels of an 8-bit image; same shape and dtype: ``(...) -> (...)``."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def _prepare(sr: Tensor, hr: Tensor, crop_border: int, y_channel: bool, round_y: bool = False) -> tuple[Tensor, Tensor]:
    """Check shapes, crop the border, convert to float64 on [0, 255] (Y or RGB): ``(B,3,H,W) -> (B,C,H-2c,W-2c)``."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr must have the same shape, got sr {tuple(sr.shape)} and hr {tuple(hr.shape)}")
    if sr.ndim != 4 or sr.shape[1] != 3:
        raise ValueError(f"expected RGB images (B,3,H,W), got shape {tuple(sr.shape)}")
    if crop_border < 0 or 2 * crop_border >= min(sr.shape[-2:]):
        raise ValueError(f"crop_border={crop_border} is invalid for images of size {tuple(sr.shape[-2:])}")
    if crop_border:
        sr = sr[..., crop_border:-crop_border, crop_border:-crop_border]
        hr = hr[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        return rgb2y(sr, round=round_y), rgb2y(hr, round=round_y)
    return sr.to(torch.float64) * _DATA_RANGE, hr.to(torch.float64) * _DATA_RANGE


def mse(sr: Tensor, hr: Tensor, *, crop_border: int, y_channel: bool = True, round_y: bool = False) -> Tensor:
    """Mean squared error on the [0, 255] scale: ``(B,3,H,W), (B,3,H,W) -> (B,)`` float64.

    ``round_y=True`` rounds Y to integers first, as PIRM's ``immse`` on the uint8 Y of ``convert_shave_image.m``.
    """
    a, b = _prepare(sr, hr, crop_border, y_channel, round_y)
    return (a - b).pow(2).mean(dim=(1, 2, 3))


def rmse(sr: Tensor, hr: Tensor, *, crop_border: int, y_channel: bool = True, round_y: bool = True) -> Tensor:
    """Root mean squared error on [0, 255], per image: ``(B,3,H,W), (B,3,H,W) -> (B,)`` float64.

    Defaults follow PIRM 2018 / FASRGAN ``Test_scripts/PI`` (uint8 Y). Note PIRM reports ``sqrt(mean(MSE))`` over a set
    (what :class:`gansr.metrics.RMSE` computes), not the mean of per-image RMSE.
    """
    return mse(sr, hr, crop_border=crop_border, y_channel=y_channel, round_y=round_y).sqrt()


def psnr(sr: Tensor, hr: Tensor, *, crop_border: int, y_channel: bool = True, round_y: bool = False) -> Tensor:
    """PSNR in dB, ``10 log10(255^2 / MSE)`` in float64, ``inf`` for identical images: ``(B,3,H,W) x2 -> (B,)``.

    Matches BasicSR ``calculate_psnr`` and FASRGAN ``calculate_PSNR_SSIM.m`` (docs/methods.md §1.8, 2.7): Y of
    ``rgb2ycbcr(im2double(.))``, not rounded. ``round_y=True`` is MATLAB ``rgb2ycbcr`` of the uint8 image (Y rounded),
    the convention of the RCAN/EDSR-era MATLAB scripts behind the published Bicubic row (Set5 x4: 28.42 dB).
    """
    err = mse(sr, hr, crop_border=crop_border, y_channel=y_channel, round_y=round_y)
    return 10.0 * torch.log10(_DATA_RANGE**2 / err)


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 11x11 Gaussian window (sigma 1.5, sum 1) of Wang's ``ssim_index.m`` / ``cv2.getGaussianKernel``: ``(1,1,11,11)``."""
    coords = torch.arange(_SSIM_WINDOW, dtype=dtype, device=device) - (_SSIM_WINDOW - 1) / 2
    g = torch.exp(-(coords**2) / (2 * _SSIM_SIGMA**2))
    g = g / g.sum()
    return torch.outer(g, g).view(1, 1, _SSIM_WINDOW, _SSIM_WINDOW)


def ssim(sr: Tensor, hr: Tensor, *, crop_border: int, y_channel: bool = True, round_y: bool = False) -> Tensor:
    """SSIM of Wang et al. 2003 (``ssim_index.m``): ``(B,3,H,W) x2 -> (B,)`` float64.

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering, no automatic down-sampling
    (unlike MATLAB's toolbox ``ssim``); mean of the SSIM map, then mean over channels for RGB (BasicSR
    ``calculate_ssim``). Images must be at least 11x11 after cropping. ``round_y``: see :func:`psnr`.
    """
    a, b = _prepare(sr, hr, crop_border, y_channel, round_y)
    if min(a.shape[-2:]) < _SSIM_WINDOW:
        raise ValueError(f"ssim needs images of at least 11x11 after cropping, got {tuple(a.shape[-2:])}")
    channels = a.shape[1]
    window = _gaussian_window(a.dtype, a.device).expand(channels, 1, -1, -1)

    def filt(x: Tensor) -> Tensor:
        return F.conv2d(x, window, groups=channels)

    c1 = (_SSIM_K1 * _DATA_RANGE) ** 2
    c2 = (_SSIM_K2 * _DATA_RANGE) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean(dim=(2, 3)).mean(dim=1)
