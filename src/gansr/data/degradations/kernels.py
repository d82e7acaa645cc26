"""Blur kernels for the degradation models, built in torch on the training device.

All kernels are ``(k,k)`` float tensors summing to 1, ``k`` odd, centred on the middle tap.

* :func:`gaussian_kernel`: the isotropic Gaussian of the BD degradation (RDN, Zhang et al., "Residual Dense
  Network for Image Super-Resolution", CVPR 2018: 7x7, sigma 1.6), kornia's ``get_gaussian_kernel2d``.
* :func:`bivariate_kernel`: the anisotropic / generalised / plateau-shaped Gaussians of Real-ESRGAN (Wang et al.,
  "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021, Sec. 3.2 and
  Eq. 1-3): ``exp(-0.5 (x' S^-1 x)^beta)`` (``beta = 1``: Gaussian) or ``1 / ((x' S^-1 x)^beta + 1)`` (plateau),
  ``S = R diag(sx^2, sy^2) R'``.
* :func:`sinc_kernel`: the 2-D circular low-pass (``omega_c J1(omega_c r) / (2 pi r)``) Real-ESRGAN uses against
  ringing and overshoot (Sec. 3.3).
"""
from __future__ import annotations

import math

import kornia
import torch
from torch import Tensor

__all__ = ["bivariate_kernel", "gaussian_kernel", "pad_kernel", "sinc_kernel"]


def gaussian_kernel(size: int, sigma: float, device: torch.device | str = "cpu") -> Tensor:
    """``(size,size)`` isotropic Gaussian, sums to 1 (MATLAB ``fspecial('gaussian', size, sigma)``)."""
    sigma_xy = torch.tensor([[sigma, sigma]], dtype=torch.float32, device=device)
    return kornia.filters.get_gaussian_kernel2d((size, size), sigma_xy)[0]


def _grid(size: int, device: torch.device | str) -> tuple[Tensor, Tensor]:
    half = (size - 1) / 2
    axis = torch.arange(size, dtype=torch.float64, device=device) - half
    return torch.meshgrid(axis, axis, indexing="xy")  # xx varies along columns, yy along rows


def bivariate_kernel(size: int, sigma_x: float, sigma_y: float, rotation: float, beta: float = 1.0,
                     shape: str = "gaussian", device: torch.device | str = "cpu") -> Tensor:
    """``(size,size)`` anisotropic kernel of Real-ESRGAN Eq. 1-3, normalised to sum 1.

    Args:
        sigma_x, sigma_y: standard deviations along the two principal axes (pixels).
        rotation: angle of the first principal axis (radians).
        beta: shape exponent (1 with ``shape="gaussian"``: the plain Gaussian; < 1 heavier, > 1 flatter tails).
        shape: ``"gaussian"`` (``exp(-0.5 q^beta)``) or ``"plateau"`` (``1 / (q^beta + 1)``), ``q = x' S^-1 x``.
    """
    if size % 2 == 0:
        raise ValueError(f"blur kernel size must be odd, got {size}")
    cos, sin = math.cos(rotation), math.sin(rotation)
    rot = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64, device=device)
    cov = rot @ torch.diag(torch.tensor([sigma_x**2, sigma_y**2], dtype=torch.float64, device=device)) @ rot.T
    inv = torch.linalg.inv(cov)
    xx, yy = _grid(size, device)
    q = inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy
    if shape == "gaussian":
        kernel = torch.exp(-0.5 * q.pow(beta))
    elif shape == "plateau":
        kernel = 1.0 / (q.pow(beta) + 1.0)
    else:
        raise ValueError(f"unknown kernel shape {shape!r}; use gaussian or plateau")
    return (kernel / kernel.sum()).float()


def sinc_kernel(size: int, cutoff: float, device: torch.device | str = "cpu") -> Tensor:
    """``(size,size)`` circular low-pass with cut-off frequency ``cutoff`` (radians per pixel, ``(0, pi]``)."""
    if size % 2 == 0:
        raise ValueError(f"sinc kernel size must be odd, got {size}")
    xx, yy = _grid(size, device)
    r = torch.sqrt(xx * xx + yy * yy)
    centre = torch.full_like(r, cutoff**2 / (4 * math.pi))
    safe_r = torch.where(r == 0, torch.ones_like(r), r)
    kernel = torch.where(r == 0, centre, cutoff * torch.special.bessel_j1(cutoff * safe_r) / (2 * math.pi * safe_r))
    return (kernel / kernel.sum()).float()


def pad_kernel(kernel: Tensor, size: int) -> Tensor:
    """Zero-pad a centred ``(k,k)`` kernel to ``(size,size)`` (``size - k`` even), so kernels of one batch stack."""
    pad = (size - kernel.shape[-1]) // 2
    if pad < 0 or (size - kernel.shape[-1]) % 2:
        raise ValueError(f"cannot pad a {kernel.shape[-1]}x{kernel.shape[-1]} kernel to {size}x{size}")
    return torch.nn.functional.pad(kernel, (pad, pad, pad, pad))
