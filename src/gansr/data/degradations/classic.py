"""The benchmark degradations BD and DN of RDN (Zhang et al., "Residual Dense Network for Image
Super-Resolution", CVPR 2018, Sec. 5.1) and SRMD (Zhang et al., "Learning a Single Convolutional Super-Resolution
Network for Multiple Degradations", CVPR 2018):

* BD: Gaussian blur (7x7, sigma 1.6) of the HR image, then down-sampling by keeping every s-th pixel;
* DN: MATLAB bicubic down-sampling, then additive Gaussian noise of level 30 (on the 0-255 scale).

Both run on the training device per batch (:class:`BlurDownsample`, :class:`BicubicNoise`) and, through
:func:`make_degraded_lr`, make the fixed evaluation sets (``gansr-downscale --degradation bd|dn``).
"""
from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import Tensor

from gansr.data.degradations.base import DeviceDegradation
from gansr.data.degradations.kernels import gaussian_kernel
from gansr.data.degradations.ops import blur, decimate, gaussian_noise, quantize
from gansr.data.image_io import to_tensor
from gansr.data.imresize import imresize

__all__ = ["BicubicNoise", "BlurDownsample", "LR_KINDS", "make_degraded_lr"]

#: saved-LR kinds: ``bicubic`` (MATLAB imresize, the papers' tables), ``bd``, ``dn``
LR_KINDS = ("bicubic", "bd", "dn")


class BlurDownsample(DeviceDegradation):
    """BD: ``decimate(blur(HR, gaussian(kernel_size, sigma), replicate border), s)``, rounded to 8 bits.

    Args:
        scale: SR factor.
        sigma: Gaussian standard deviation in HR pixels (RDN Sec. 5.1: 1.6).
        kernel_size: kernel width (RDN Sec. 5.1: 7x7).
        quantize: round the LR to 8-bit levels, as the saved test images are.
    """

    eval_lr_kind = "bd"

    def __init__(self, scale: int, sigma: float = 1.6, kernel_size: int = 7, quantize: bool = True):
        self.scale, self.sigma, self.kernel_size, self.quantize = int(scale), float(sigma), int(kernel_size), quantize

    def degrade(self, hr: Tensor, rng: np.random.Generator | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        kernel = gaussian_kernel(self.kernel_size, self.sigma, device=hr.device)
        lr = decimate(blur(hr, kernel, border="replicate"), self.scale)
        return quantize(lr) if self.quantize else lr


class BicubicNoise(DeviceDegradation):
    """DN: ``MATLAB-bicubic(HR, 1/s)`` rounded to 8 bits, plus N(0, (sigma/255)^2) noise, clipped and rounded.

    Args:
        scale: SR factor.
        sigma: noise level on the 0-255 scale (RDN Sec. 5.1: 30).
        quantize: round the noisy LR to 8-bit levels, as the saved test images are.
    """

    eval_lr_kind = "dn"

    def __init__(self, scale: int, sigma: float = 30.0, quantize: bool = True):
        self.scale, self.sigma, self.quantize = int(scale), float(sigma), quantize

    def degrade(self, hr: Tensor, rng: np.random.Generator | None, generator: torch.Generator) -> Tensor:
        # imresize(uint8 HR, 1/s, 'bicubic'): the same LR as the bicubic sets (gansr.data.datasets.make_lr)
        lr = imresize((hr * 255).round(), 1 / self.scale, uint8_path=True) / 255
        lr = gaussian_noise(lr, self.sigma / 255, gray=False, generator=generator)
        return quantize(lr) if self.quantize else lr


def make_degraded_lr(hr: np.ndarray, scale: int, kind: str, stem: str) -> np.ndarray:
    """The saved LR of a mod-cropped ``(s*h,s*w,3)`` uint8 HR image for ``kind`` in :data:`LR_KINDS` (not
    ``bicubic``, which :func:`gansr.data.datasets.make_lr` makes): ``(h,w,3)`` uint8. The DN noise is seeded by
    the file stem (CRC32), so the evaluation set is the same on every machine and every run."""
    tensor = to_tensor(hr)[None].double()
    if kind == "bd":
        lr = BlurDownsample(scale).degrade(tensor.float())
    elif kind == "dn":
        generator = torch.Generator().manual_seed(zlib.crc32(stem.encode()))
        lr = BicubicNoise(scale).degrade(tensor, None, generator)
    else:
        raise ValueError(f"unknown LR kind {kind!r}; choose one of {', '.join(LR_KINDS[1:])}")
    return (lr[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
