"""torchmetrics wrappers: the per-image functions of this package averaged over a dataset, DDP-correct.

Each metric keeps a float64 ``total`` and an integer ``count`` reduced with ``sum`` across processes, so the result is
the mean over all images whatever the split between GPUs (a mean of per-GPU means would weight GPUs, not images).
``update(sr, hr)`` takes ``(B,3,H,W)`` RGB in [0,1], quantises both to 8-bit levels first (BasicSR ``tensor2img``,
docs/methods.md §2.7) and adds one score per image; no-reference metrics ignore ``hr``. ``score(sr, hr) -> (B,)`` gives the
per-image values without accumulating them; calling the metric, ``metric(sr, hr)``, accumulates and returns the value of
that batch alone (torchmetrics ``forward``; with B=1 the per-image value, as ``gansr-score`` uses it).

Names used by :func:`build_metrics` (and in logs as ``val/<dataset>/<name>``): ``psnr_y ssim_y psnr_rgb ssim_rgb rmse
lpips niqe ma pi``.
"""
from __future__ import annotations

import os

import torch
from torch import Tensor
from torchmetrics import Metric

from gansr.metrics.lpips_metric import LPIPSDistance
from gansr.metrics.no_reference import (
    load_ma_params,
    load_niqe_params,
    ma,
    niqe,
    perceptual_index,
)
from gansr.metrics.psnr_ssim import psnr, quantize, rmse, ssim
from gansr.utils.errors import InvalidValueError

__all__ = ["LPIPS", "NIQE", "PI", "PSNR", "RMSE", "SSIM", "ImageMeanMetric", "Ma", "build_metrics"]


class ImageMeanMetric(Metric):
    """Mean of a per-image score over every image seen (all processes). Subclasses implement :meth:`score`."""

    full_state_update = False
    is_differentiable = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def score(self, sr: Tensor, hr: Tensor | None = None) -> Tensor:
        """Per-image values ``(B,)`` of quantised inputs; nothing is accumulated."""
        raise NotImplementedError

    def _summand(self, scores: Tensor) -> Tensor:
        """What is summed per image (the score itself; RMSE sums squares)."""
        return scores

    def update(self, sr: Tensor, hr: Tensor | None = None) -> None:
        summand = self._summand(self.score(sr, hr).detach()).to(self.total)
        self.total += summand.sum()
        self.count += summand.numel()

    def compute(self) -> Tensor:
        return self.total / self.count


class _FullReference(ImageMeanMetric):
    """Base of the metrics that need ``hr`` of the same shape as ``sr``."""

    def __init__(self, crop_border: int, y_channel: bool = True, round_y: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.crop_border = crop_border
        self.y_channel = y_channel
        self.round_y = round_y

    def score(self, sr: Tensor, hr: Tensor | None = None) -> Tensor:
        if hr is None:
            raise ValueError(f"{type(self).__name__} is a full-reference metric: update(sr, hr) needs hr")
        return self._score(quantize(sr), quantize(hr))

    def _score(self, sr: Tensor, hr: Tensor) -> Tensor:
        raise NotImplementedError


class PSNR(_FullReference):
    """Mean PSNR (dB) over images; see :func:`gansr.metrics.psnr` (``crop_border`` = scale, Y for paper tables).

    An identical image pair gives ``inf`` and so an ``inf`` mean, as in BasicSR.
    """

    higher_is_better = True

    def _score(self, sr: Tensor, hr: Tensor) -> Tensor:
        return psnr(sr, hr, crop_border=self.crop_border, y_channel=self.y_channel, round_y=self.round_y)


class SSIM(_FullReference):
    """Mean SSIM (Wang 2003, MATLAB ``ssim_index``) over images; see :func:`gansr.metrics.ssim`."""

    higher_is_better = True

    def _score(self, sr: Tensor, hr: Tensor) -> Tensor:
        return ssim(sr, hr, crop_border=self.crop_border, y_channel=self.y_channel, round_y=self.round_y)


class RMSE(_FullReference):
    """PIRM 2018 RMSE: ``sqrt(mean over images of MSE)`` on the rounded Y channel (``evaluate_results.m``).

    :meth:`score` gives per-image RMSE; the dataset value is the root of the mean MSE, not the mean RMSE.
    """

    higher_is_better = False

    def _score(self, sr: Tensor, hr: Tensor) -> Tensor:
        return rmse(sr, hr, crop_border=self.crop_border, y_channel=self.y_channel, round_y=True)

    def _summand(self, scores: Tensor) -> Tensor:
        return scores.square()

    def compute(self) -> Tensor:
        return super().compute().sqrt()


class LPIPS(ImageMeanMetric):
    """Mean LPIPS (AlexNet) over images; see :class:`gansr.metrics.lpips_metric.LPIPSDistance` for the arguments.

    No border crop (as FASRGAN's LPIPS script). Holds the frozen network as a child module (moves with ``.to``).
    """

    higher_is_better = False

    def __init__(
        self,
        version: str = "0.1",
        pretrained_backbone: bool = True,
        backbone_path: str | os.PathLike | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.distance = LPIPSDistance(version, pretrained_backbone=pretrained_backbone, backbone_path=backbone_path)

    def score(self, sr: Tensor, hr: Tensor | None = None) -> Tensor:
        if hr is None:
            raise ValueError("LPIPS is a full-reference metric: update(sr, hr) needs hr")
        with torch.no_grad():
            return self.distance(quantize(sr), quantize(hr)).to(torch.float64)


class _NoReference(ImageMeanMetric):
    """Base of NIQE and Ma: a score of ``sr`` alone with the PIRM conventions and a parameter file.

    Args:
        crop_border: pixels shaved per side (FASRGAN's PI script: 0; PIRM challenge: 4).
        y_channel, round_y: MATLAB Y of the uint8 image (PIRM convention) by default.
        params_path: the metric's parameter file (else the cache / download, see ``no_reference``).
    """

    higher_is_better = False
    score_image = staticmethod(niqe)
    load_params = staticmethod(load_niqe_params)

    def __init__(
        self,
        crop_border: int = 0,
        y_channel: bool = True,
        round_y: bool = True,
        params_path: str | os.PathLike | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.conventions = {"crop_border": crop_border, "y_channel": y_channel, "round_y": round_y}
        self.params = self.load_params(params_path)

    def score(self, sr: Tensor, hr: Tensor | None = None) -> Tensor:
        return self.score_image(quantize(sr), self.params, **self.conventions)


class NIQE(_NoReference):
    """Mean NIQE over images (lower is better); see :func:`gansr.metrics.no_reference.niqe`.
    ``params_path`` is the official ``modelparameters.mat``."""


class Ma(_NoReference):
    """Mean Ma et al. (NRQM) score over images (higher is better); see :func:`gansr.metrics.no_reference.ma`.
    ``params_path`` is pyiqa's ``NRQM_model.mat``. Slow (CPU random forests)."""

    higher_is_better = True
    score_image = staticmethod(ma)
    load_params = staticmethod(load_ma_params)


class PI(ImageMeanMetric):
    """Mean Perceptual Index ``((10 - Ma) + NIQE) / 2`` over images (PIRM 2018; equal to PI of the mean scores).

    Args: as :class:`NIQE`, plus ``niqe_params_path`` and ``ma_params_path``.
    """

    higher_is_better = False

    def __init__(
        self,
        crop_border: int = 0,
        y_channel: bool = True,
        round_y: bool = True,
        niqe_params_path: str | os.PathLike | None = None,
        ma_params_path: str | os.PathLike | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.crop_border, self.y_channel, self.round_y = crop_border, y_channel, round_y
        self.niqe_params = load_niqe_params(niqe_params_path)
        self.ma_params = load_ma_params(ma_params_path)

    def score(self, sr: Tensor, hr: Tensor | None = None) -> Tensor:
        sr = quantize(sr)
        conventions = {"crop_border": self.crop_border, "y_channel": self.y_channel, "round_y": self.round_y}
        return perceptual_index(niqe(sr, self.niqe_params, **conventions), ma(sr, self.ma_params, **conventions))


def build_metrics(
    names: list[str] | tuple[str, ...],
    *,
    crop_border: int,
    lpips_version: str = "0.1",
    lpips_pretrained_backbone: bool = True,
    nr_crop_border: int = 0,
    niqe_params_path: str | os.PathLike | None = None,
    ma_params_path: str | os.PathLike | None = None,
    round_y: bool = False,
) -> dict[str, Metric]:
    """Metrics by their log names: ``psnr_y ssim_y psnr_rgb ssim_rgb rmse lpips niqe ma pi``.

    Args:
        crop_border: border shaved by the full-reference metrics (PSNR, SSIM, RMSE); the paper convention is the scale.
        lpips_version: ``"0.1"`` or ``"0.0"`` (FASRGAN); ``lpips_pretrained_backbone=False`` for a random AlexNet.
        nr_crop_border: border shaved by NIQE / Ma / PI (FASRGAN's ``Test_scripts/PI``: 0).
        round_y: PSNR/SSIM on the rounded Y of the uint8 image (RCAN/EDSR-era tables, e.g. the Bicubic row) instead
            of the unrounded Y of ``im2double`` (BasicSR, FASRGAN; the default).
        niqe_params_path, ma_params_path: parameter files for NIQE / Ma / PI (default: the cache, see ``no_reference``).
    Raises InvalidValueError (a ValueError) naming the unknown names and the known ones. Missing weight files raise MissingWeightError.
    """
    factories = {
        "psnr_y": lambda: PSNR(crop_border, y_channel=True, round_y=round_y),
        "ssim_y": lambda: SSIM(crop_border, y_channel=True, round_y=round_y),
        "psnr_rgb": lambda: PSNR(crop_border, y_channel=False),
        "ssim_rgb": lambda: SSIM(crop_border, y_channel=False),
        "rmse": lambda: RMSE(crop_border, y_channel=True),
        "lpips": lambda: LPIPS(lpips_version, pretrained_backbone=lpips_pretrained_backbone),
        "niqe": lambda: NIQE(nr_crop_border, params_path=niqe_params_path),
        "ma": lambda: Ma(nr_crop_border, params_path=ma_params_path),
        "pi": lambda: PI(nr_crop_border, niqe_params_path=niqe_params_path, ma_params_path=ma_params_path),
    }
    unknown = [name for name in names if name not in factories]
    if unknown:
        raise InvalidValueError(f"unknown metric name(s) {unknown}; choose from {list(factories)}")
    return {name: factories[name]() for name in names}
