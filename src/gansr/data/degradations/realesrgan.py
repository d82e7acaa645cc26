"""The second-order "real-world" degradation of Real-ESRGAN (Wang et al., "Real-ESRGAN: Training Real-World Blind
Super-Resolution with Pure Synthetic Data", ICCVW 2021, Sec. 3 and Fig. 2), on the training device.

Per sample, twice: blur (a random kernel of :func:`random_kernel`), random resize, Gaussian or Poisson noise,
JPEG; then the final resize to ``HR/s`` with a sinc filter before or after the last JPEG (Sec. 3.3). Every default
below is a value of Real-ESRGAN's published training options (``options/train_realesrgan_x4plus.yml`` and the
``RealESRGANDataset`` it names, release v0.2.x); each is a config value of ``conf/degradation/realesrgan.yaml``.

Where this differs from the reference implementation (BasicSR ``realesrgan_model.py``), see docs/methods.md
("Degradations"): parameters drawn per sample rather than per batch; kornia's JPEG instead of BasicSR's DiffJPEG;
the worker's HR patch (``data.patch_size``) is degraded, rather than a 400 px crop degraded then cropped; no USM
sharpening of the ground truth.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from gansr.data.degradations.base import DeviceDegradation
from gansr.data.degradations.kernels import bivariate_kernel, pad_kernel, sinc_kernel
from gansr.data.degradations.ops import blur, gaussian_noise, jpeg, poisson_noise, quantize, resize

__all__ = ["DegradationStage", "RealESRGANDegradation", "random_kernel"]

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")


def _shape_exponent(rng: np.random.Generator, low: float, high: float) -> float:
    """Real-ESRGAN's beta draw: uniform on ``[low, 1)`` or ``[1, high)`` with probability 1/2 each."""
    return float(rng.uniform(low, 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, high))


def random_kernel(rng: np.random.Generator, kernel_types: Sequence[str], kernel_probs: Sequence[float],
                  sigma: Sequence[float], betag: Sequence[float], betap: Sequence[float], sinc_prob: float,
                  max_size: int, device: torch.device | str) -> Tensor:
    """One random blur kernel, ``(max_size,max_size)``, sums to 1 (Real-ESRGAN Sec. 3.2).

    Size: odd, uniform in 7..``max_size``. With probability ``sinc_prob`` a sinc kernel (cut-off uniform in
    ``[pi/3, pi]``, or ``[pi/5, pi]`` from size 13); else a kernel of a type drawn with ``kernel_probs``:
    ``iso``/``aniso`` Gaussians (sigmas uniform in ``sigma``, rotation uniform in ``[-pi, pi]``), their
    ``generalized_*`` forms (beta from ``betag``) and ``plateau_*`` forms (beta from ``betap``).
    """
    size = int(rng.choice(np.arange(7, max_size + 1, 2)))
    if rng.uniform() < sinc_prob:
        cutoff = rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi)
        return pad_kernel(sinc_kernel(size, float(cutoff), device), max_size)
    probs = np.asarray(kernel_probs, dtype=float)
    kind = kernel_types[int(rng.choice(len(kernel_types), p=probs / probs.sum()))]
    sigma_x = float(rng.uniform(*sigma))
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sigma_y, rotation = sigma_x, 0.0
    else:
        sigma_y, rotation = float(rng.uniform(*sigma)), float(rng.uniform(-math.pi, math.pi))
    beta, shape = 1.0, "gaussian"
    if kind.startswith("generalized"):
        beta = _shape_exponent(rng, *betag)
    elif kind.startswith("plateau"):
        beta, shape = _shape_exponent(rng, *betap), "plateau"
    return pad_kernel(bivariate_kernel(size, sigma_x, sigma_y, rotation, beta, shape, device), max_size)


class DegradationStage:
    """One order of the pipeline: blur (with probability ``blur_prob``), resize, noise, and (first order only) JPEG.

    Args:
        blur_prob: probability of blurring (first order 1.0, second order 0.8).
        kernel_types, kernel_probs, sigma, betag, betap, sinc_prob, kernel_size: :func:`random_kernel`.
        resize_probs: probabilities of up / down / keep; ``resize_range``: its scale range for up/down.
        gaussian_noise_prob: Gaussian noise with this probability, else Poisson noise.
        noise_range: Gaussian sigma range (0-255 scale); ``poisson_scale_range``: the Poisson noise scale range;
        gray_noise_prob: the same noise for all channels with this probability.
        jpeg_range: JPEG quality range (first order; the second order's JPEG is in the final step).
    """

    def __init__(self, blur_prob: float, kernel_types: Sequence[str], kernel_probs: Sequence[float],
                 sigma: Sequence[float], betag: Sequence[float], betap: Sequence[float], sinc_prob: float,
                 kernel_size: int, resize_probs: Sequence[float], resize_range: Sequence[float],
                 gaussian_noise_prob: float, noise_range: Sequence[float], poisson_scale_range: Sequence[float],
                 gray_noise_prob: float, jpeg_range: Sequence[float]):
        unknown = sorted(set(kernel_types) - set(KERNEL_TYPES))
        if unknown or len(kernel_types) != len(kernel_probs):
            raise ValueError(f"kernel_types {list(kernel_types)} must be from {KERNEL_TYPES}, one probability each")
        self.blur_prob = float(blur_prob)
        self.kernel = dict(kernel_types=list(kernel_types), kernel_probs=list(kernel_probs), sigma=list(sigma),
                           betag=list(betag), betap=list(betap), sinc_prob=float(sinc_prob),
                           max_size=int(kernel_size))
        self.resize_probs, self.resize_range = list(resize_probs), list(resize_range)
        self.gaussian_noise_prob, self.gray_noise_prob = float(gaussian_noise_prob), float(gray_noise_prob)
        self.noise_range, self.poisson_scale_range = list(noise_range), list(poisson_scale_range)
        self.jpeg_range = list(jpeg_range)

    def blur_and_noise(self, image: Tensor, out_size: tuple[int, int] | None, rng: np.random.Generator,
                       generator: torch.Generator) -> Tensor:
        """Blur, resize (to ``out_size`` times the drawn factor, or the input size times it), add noise."""
        if rng.uniform() < self.blur_prob:
            image = blur(image, random_kernel(rng, device=image.device, **self.kernel))
        direction = rng.choice(3, p=np.asarray(self.resize_probs) / sum(self.resize_probs))
        factor = (rng.uniform(1, self.resize_range[1]) if direction == 0
                  else rng.uniform(self.resize_range[0], 1) if direction == 1 else 1.0)
        base_h, base_w = out_size or image.shape[-2:]
        size = (max(1, int(base_h * factor)), max(1, int(base_w * factor)))
        image = resize(image, size, RESIZE_MODES[int(rng.integers(3))])
        gray = bool(rng.uniform() < self.gray_noise_prob)
        if rng.uniform() < self.gaussian_noise_prob:
            return gaussian_noise(image, float(rng.uniform(*self.noise_range)) / 255, gray, generator)
        return poisson_noise(image, float(rng.uniform(*self.poisson_scale_range)), gray, generator)

    def jpeg(self, image: Tensor, rng: np.random.Generator) -> Tensor:
        return jpeg(image, float(rng.uniform(*self.jpeg_range)))


class RealESRGANDegradation(DeviceDegradation):
    """Real-ESRGAN's second-order degradation: ``HR (1,3,P,P) -> LR (1,3,P/s,P/s)``, rounded to 8 bits.

    Args:
        scale: SR factor.
        first, second: the two orders (:class:`DegradationStage`; the config builds them).
        final_sinc_prob: probability of the final sinc filter (0.8); its size is uniform in 7..``kernel_size``
            (odd), its cut-off uniform in ``[pi/3, pi]``.
        kernel_size: the largest kernel (21).
    """

    eval_lr_kind = "bicubic"  # validation keeps the bicubic sets; real photos are scored with NIQE

    def __init__(self, scale: int, first: DegradationStage, second: DegradationStage, final_sinc_prob: float = 0.8,
                 kernel_size: int = 21):
        self.scale = int(scale)
        self.first, self.second = first, second
        self.final_sinc_prob, self.kernel_size = float(final_sinc_prob), int(kernel_size)

    def degrade(self, hr: Tensor, rng: np.random.Generator, generator: torch.Generator) -> Tensor:
        out_h, out_w = hr.shape[-2] // self.scale, hr.shape[-1] // self.scale
        image = self.first.jpeg(self.first.blur_and_noise(hr, None, rng, generator), rng)
        # the second order's resize is relative to the LR size (Real-ESRGAN: ori_h / scale * factor)
        image = self.second.blur_and_noise(image, (out_h, out_w), rng, generator)
        sinc = None
        if rng.uniform() < self.final_sinc_prob:
            size = int(rng.choice(np.arange(7, self.kernel_size + 1, 2)))
            sinc = sinc_kernel(size, float(rng.uniform(math.pi / 3, math.pi)), image.device)
        mode = RESIZE_MODES[int(rng.integers(3))]

        def resize_and_sinc(x: Tensor) -> Tensor:
            x = resize(x, (out_h, out_w), mode)
            return x if sinc is None else blur(x, sinc)

        if rng.uniform() < 0.5:  # resize + sinc, then JPEG
            image = self.second.jpeg(resize_and_sinc(image), rng)
        else:  # JPEG, then resize + sinc
            image = resize_and_sinc(self.second.jpeg(image, rng))
        return quantize(image)
