"""MATLAB-exact bicubic ``imresize`` in PyTorch (batched, CPU or GPU).

Reproduces MATLAB's ``imresize(img, scale, 'bicubic')`` (docs/methods.md §2.8; [BSR]
``basicsr/utils/matlab_functions.py::imresize``), which made the LR images of every SR benchmark and of the
DIV2K training LR (FASRGAN ``scripts/generate_mod_LR_bic.m``, docs/methods.md §1.7):

* output size ``ceil(in * scale)`` (or an explicit ``size``, then ``scale = out / in`` per dimension);
* output pixel ``x`` (1-based) centred at input coordinate ``u = x / s + 0.5 * (1 - 1 / s)``;
* Keys cubic kernel with ``a = -0.5``; when down-scaling with antialiasing (MATLAB's default) the kernel is
  stretched by ``1 / s`` and scaled by ``s``; ``ceil(kernel_width) + 2`` taps per output pixel, weights
  normalised to sum 1, taps whose weight is zero for every output pixel dropped;
* out-of-range taps read the symmetric (mirror) extension of the image;
* separable: one 1-D pass per dimension, the dimension with the smaller scale first (height first when the
  scales are equal, i.e. always for a plain ``scale``), all arithmetic in float64.

``torch.nn.functional.interpolate(mode="bicubic", antialias=True)`` differs from this within two pixels of
every border (it truncates and renormalises the kernel instead of mirroring) and floors the output size, so
it must not be used to make benchmark LR images (docs/methods.md §2.8).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

__all__ = ["imresize", "imresize_uint8", "output_size"]

_KERNEL_WIDTH = 4.0  # support of the bicubic kernel, in input pixels (before antialias stretching)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys (1981) cubic convolution kernel with a = -0.5 (MATLAB ``imresize>cubic``)."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * (
        (absx > 1) & (absx <= 2)
    )


@lru_cache(maxsize=256)
def _contributions(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Taps of one 1-D pass (MATLAB ``imresize>contributions``).

    Returns ``indices`` (out_len, P) int64, 0-based and already mirrored into ``[0, in_len)``, and
    ``weights`` (out_len, P) float64, each row summing to 1.
    """
    if scale < 1 and antialias:
        kernel_width = _KERNEL_WIDTH / scale

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)

    else:
        kernel_width = _KERNEL_WIDTH
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    num_taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(num_taps, dtype=np.float64)[None, :]  # 1-based
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return np.ascontiguousarray(indices[:, keep]), np.ascontiguousarray(weights[:, keep])


def _resize_dim(x: Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> Tensor:
    """One 1-D pass of ``x`` (float64, ``dim`` is -2 or -1); taps summed in MATLAB's order."""
    indices, weights = _contributions(x.shape[dim], out_len, scale, antialias)
    indices_t = torch.from_numpy(indices).to(x.device)
    weights_t = torch.from_numpy(weights).to(x.device)
    tap_shape = (out_len, 1) if dim == -2 else (out_len,)
    out = x.index_select(dim, indices_t[:, 0]).mul_(weights_t[:, 0].view(tap_shape))
    term = torch.empty_like(out)
    for p in range(1, indices.shape[1]):
        torch.index_select(x, dim, indices_t[:, p], out=term)
        out.add_(term.mul_(weights_t[:, p].view(tap_shape)))
    return out


def _round_uint8(x: Tensor) -> Tensor:
    """MATLAB's cast of double to uint8: round half away from zero, saturate to [0, 255].

    ``floor(x) + (frac >= 0.5)`` is exact in float64, unlike ``floor(x + 0.5)`` (0.49999999999999994 + 0.5 == 1).
    """
    down = torch.floor(x)
    return down.add_((x - down) >= 0.5).clamp_(0, 255)


def output_size(in_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size for a scale factor: ``ceil(in * scale)`` per dimension (float64 arithmetic)."""
    return tuple(math.ceil(n * scale) for n in in_size)  # type: ignore[return-value]


def imresize(
    img: Tensor,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    uint8_path: bool = False,
    antialias: bool = True,
) -> Tensor:
    """MATLAB ``imresize(img, scale, 'bicubic')`` over the last two dimensions.

    Args:
        img: ``(..., H, W)`` tensor, e.g. ``(B,3,H,W)`` float in [0,1] (any range works on the double path).
            A ``torch.uint8`` tensor is resized on the uint8 path and returned as ``torch.uint8``.
        scale: scale factor, e.g. ``1/4`` (down) or ``4`` (up); output ``(..., ceil(H*s), ceil(W*s))``.
        size: ``(out_H, out_W)`` instead of ``scale`` (MATLAB ``imresize(img, [rows cols], ...)``).
        uint8_path: the input holds integer values 0..255 (as float) and the result is rounded to integers
            and clipped to [0,255] after each pass, as MATLAB does on a uint8 image. This is how benchmark
            LR images were made (``imresize(uint8_img, 1/4, 'bicubic')``). Without it (the default, MATLAB on
            a double image) nothing is rounded or clipped.
        antialias: MATLAB's ``'Antialiasing'`` option (only acts when down-scaling).

    Returns:
        ``(..., out_H, out_W)`` in the input's dtype and device (computed in float64).
    """
    if img.ndim < 2:
        raise ValueError(f"imresize expects a (..., H, W) tensor, got shape {tuple(img.shape)}")
    if (scale is None) == (size is None):
        raise ValueError("imresize needs exactly one of `scale` or `size`")
    in_size = (img.shape[-2], img.shape[-1])
    if size is not None:
        out_size = (int(size[0]), int(size[1]))
        scales = (out_size[0] / in_size[0], out_size[1] / in_size[1])
    else:
        if scale <= 0:
            raise ValueError(f"imresize scale must be > 0, got {scale}")
        out_size = output_size(in_size, float(scale))
        scales = (float(scale), float(scale))
    if min(out_size) < 1:
        raise ValueError(f"imresize output size {out_size} from input {in_size} is empty")

    is_uint8 = img.dtype == torch.uint8
    if not (is_uint8 or img.is_floating_point()):
        raise TypeError(f"imresize expects a float or uint8 tensor, got {img.dtype}")
    rounding = uint8_path or is_uint8
    x = img.to(torch.float64).contiguous()
    # MATLAB resizes the dimension with the smaller scale first (stable: height first on ties).
    order = (-2, -1) if scales[0] <= scales[1] else (-1, -2)
    for dim in order:
        k = 0 if dim == -2 else 1
        x = _resize_dim(x, dim, out_size[k], scales[k], antialias)
        if rounding:
            x = _round_uint8(x)
    return x.to(img.dtype)


def imresize_uint8(arr: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(uint8_img, scale, 'bicubic')``: ``(H,W,C)`` or ``(H,W)`` uint8 -> same layout, uint8.

    This is the benchmark LR convention (Set5 ``LR_bicubic/X4``: ``imresize_uint8(hr, 1/4)``, docs/methods.md §2.8).
    """
    if arr.dtype != np.uint8:
        raise TypeError(f"imresize_uint8 expects a uint8 array, got {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"imresize_uint8 expects (H,W) or (H,W,C), got shape {arr.shape}")
    t = torch.tensor(arr)  # a copy: the array may be read-only
    t = t.permute(2, 0, 1) if arr.ndim == 3 else t
    out = imresize(t, scale)
    out = out.permute(1, 2, 0) if arr.ndim == 3 else out
    return np.ascontiguousarray(out.numpy())
