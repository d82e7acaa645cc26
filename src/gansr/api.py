"""The Python inference API: ``gansr.load_generator(path)`` and ``gansr.upscale(image, ...)``.

    import gansr
    from PIL import Image

    generator = gansr.load_generator("outputs/esrgan/run/generator.pth")   # or <run>/checkpoints/last.ckpt
    generator = gansr.load_generator("RealESRGAN_x4plus.pth")              # or a public file spandrel detects
    sr = gansr.upscale(Image.open("photo.png"), generator, tile=256)        # PIL in, PIL out
    sr = gansr.upscale(numpy_uint8_hwc, scale=4)                            # bicubic (MATLAB-exact), array out

The same tiling and rounding as ``gansr-upscale`` (:mod:`gansr.inference`), so both give the same pixels.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image
from torch import nn

from gansr.archs.bicubic import BicubicUpsampler
from gansr.data.image_io import to_tensor
from gansr.inference import load_generator, tiled_upscale, upscale_to_array, upscale_to_image

__all__ = ["load_generator", "upscale"]

ImageLike = TypeVar("ImageLike", np.ndarray, Image.Image, torch.Tensor)


def resolve_upscaler(generator: nn.Module | str | Path | None, scale: int | None) -> tuple[nn.Module, int]:
    """``(network in eval mode, its scale)``: ``None`` is MATLAB-exact bicubic (needs ``scale``); a path is loaded
    with :func:`load_generator`; a module's scale is its ``scale`` attribute (or ``scale``, which must agree)."""
    if generator is None:
        if scale is None:
            raise ValueError("upscale(generator=None) is bicubic up-scaling and needs scale=")
        return BicubicUpsampler(scale=scale), scale
    if isinstance(generator, (str, Path)):
        generator = load_generator(generator)
    own = getattr(generator, "scale", None)
    if own is not None and scale is not None and int(own) != scale:
        raise ValueError(f"scale={scale} differs from the generator's scale {own}")
    if own is None and scale is None:
        raise ValueError(f"{type(generator).__name__} has no 'scale' attribute: pass scale=")
    return generator.eval(), int(own if own is not None else scale)


def upscale(image: ImageLike, generator: nn.Module | str | Path | None = None, scale: int | None = None,
            tile: int = 0, overlap: int = 16) -> ImageLike:
    """Super-resolve one image and return it in the kind it came in.

    Args:
        image: ``(H,W,3)`` uint8 numpy array, a PIL image (non-RGB modes are converted to RGB with a warning),
            or a float tensor in [0,1] of shape ``(3,H,W)`` or ``(B,3,H,W)``.
        generator: a network (e.g. from :func:`load_generator`; put in eval mode), a generator file or run
            checkpoint path, or ``None`` for MATLAB-exact bicubic.
        scale: needed for bicubic; otherwise optional and checked against the generator's.
        tile: LR tile size in pixels (0 = the whole image at once); bounds memory for large images.
        overlap: LR pixels of context around each tile; at least the network's receptive-field radius for a
            seamless result (16 suffices for bicubic; see docs/inference.md).

    Returns:
        ``(s*H, s*W, 3)`` uint8 array / RGB PIL image / float tensor in [0,1] with the input's dimensions, on the
        input's device. The computation runs on the generator's device (CPU for bicubic).
    """
    if tile < 0 or overlap < 0:
        raise ValueError(f"tile and overlap must be >= 0 (tile 0 = whole image), got tile={tile}, overlap={overlap}")
    network, scale = resolve_upscaler(generator, scale)
    device = next(network.parameters(), torch.empty(0)).device
    if isinstance(image, torch.Tensor):
        return _upscale_tensor(image, network, scale, tile, overlap, device)
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            warnings.warn(f"upscale: image in mode {image.mode} converted to RGB", UserWarning, stacklevel=2)
            image = image.convert("RGB")
        return upscale_to_image(network, to_tensor(np.asarray(image))[None].to(device), scale, tile, overlap)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"upscale expects an (H,W,3) uint8 RGB array, got {image.dtype} {image.shape}")
        return upscale_to_array(network, to_tensor(image)[None].to(device), scale, tile, overlap)
    raise TypeError(f"upscale takes a numpy array, a PIL image or a torch tensor, got {type(image).__name__}")


def _upscale_tensor(image: torch.Tensor, network: nn.Module, scale: int, tile: int, overlap: int,
                    device: torch.device) -> torch.Tensor:
    if not image.is_floating_point() or image.ndim not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"upscale expects a float (3,H,W) or (B,3,H,W) tensor in [0,1], got {image.dtype} "
                         f"{tuple(image.shape)}")
    batch = image if image.ndim == 4 else image[None]
    sr = tiled_upscale(network, batch.to(device), scale, tile, overlap).clamp_(0, 1).to(image.device)
    return sr if image.ndim == 4 else sr[0]
