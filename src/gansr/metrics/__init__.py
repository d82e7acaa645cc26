"""Image-quality metrics with the conventions of the SR papers (docs/methods.md §1.8, 2.7).

Plain per-image functions on ``(B,3,H,W)`` RGB tensors in [0,1] (``quantize`` first for 8-bit numbers)::

    from gansr.metrics import quantize, psnr, ssim, rgb2y
    psnr(quantize(sr), quantize(hr), crop_border=4, y_channel=True)   # (B,) float64

and torchmetrics classes that average them over a dataset (DDP-correct)::

    from gansr.metrics import build_metrics
    metrics = build_metrics(["psnr_y", "ssim_y", "lpips"], crop_border=4, lpips_version="0.1")
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gansr.utils.lazy import lazy_getattr

from gansr.metrics.color import rgb2y
from gansr.metrics.psnr_ssim import psnr, quantize, rmse, ssim

# The dataset-level classes need torchmetrics (seconds to import): loaded on first use (PEP 562).
_LAZY_EXPORTS = {
    name: "gansr.metrics.collection"
    for name in ("LPIPS", "NIQE", "PI", "PSNR", "RMSE", "SSIM", "ImageMeanMetric", "Ma", "build_metrics")
}
_LAZY_EXPORTS.update({
    "available_metrics": "gansr.metrics.availability",
    "DEFAULT_METRICS": "gansr.metrics.availability",
})

if TYPE_CHECKING:
    from gansr.metrics.availability import DEFAULT_METRICS, available_metrics  # noqa: F401
    from gansr.metrics.collection import LPIPS, NIQE, PI, PSNR, RMSE, SSIM, ImageMeanMetric, Ma, build_metrics  # noqa: F401


__getattr__ = lazy_getattr(__name__, globals(), _LAZY_EXPORTS)


__all__ = [
    "LPIPS",
    "NIQE",
    "PI",
    "PSNR",
    "RMSE",
    "SSIM",
    "ImageMeanMetric",
    "Ma",
    "build_metrics",
    "available_metrics",
    "DEFAULT_METRICS",
    "psnr",
    "quantize",
    "rgb2y",
    "rmse",
    "ssim",
]
