"""Image files <-> arrays/tensors, and image-folder listing.

Arrays are ``(H,W,3)`` uint8 RGB; tensors are ``(3,H,W)`` float32 RGB in [0,1] (the repository convention).
Reading never fails silently: unreadable or truncated files raise :class:`ImageReadError` naming the file, and
non-RGB files (grayscale, alpha, palette, 16-bit, CMYK) are converted to RGB with a ``UserWarning`` that names
the file and the conversion.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gansr.utils.atomic import atomic_path
from gansr.utils.errors import GansrError

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetNotFoundError",
    "ImageReadError",
    "list_images",
    "read_image",
    "to_tensor",
    "to_uint8",
    "write_image",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
                ".webp": "WEBP"}


class ImageReadError(GansrError, OSError):
    """An image file cannot be decoded (corrupt, truncated, or not an image)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason.rstrip('. ')}. Re-download the file or remove it "
                         "from the folder.")

    def __str__(self) -> str:
        return self.args[0]


class DatasetNotFoundError(GansrError, FileNotFoundError):
    """A dataset folder is missing or holds no images; the message says where it looked and how to get the data."""


def _is_16bit(im: Image.Image) -> bool:
    raw_modes = [tile[3] if isinstance(tile[3], str) else "" for tile in getattr(im, "tile", None) or []]
    return im.mode.startswith("I;16") or im.mode == "I" or any(";16" in m for m in raw_modes)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(H,W,3)`` uint8 RGB.

    Conversions (each warns with the file name): grayscale -> RGB (channel repeated); RGBA/LA -> alpha dropped
    (not composited); palette -> RGB; 16-bit -> 8-bit (16-bit RGB is reduced by Pillow to its high byte,
    16-bit grayscale is scaled by 1/257 and rounded); CMYK/YCbCr/other modes -> RGB via Pillow.

    Raises:
        ImageReadError: the file is missing, truncated, corrupt or not an image.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            sixteen_bit = _is_16bit(im)
            im.load()
            mode = im.mode
            if mode == "RGB":
                arr = np.array(im)
            elif mode in ("I;16", "I;16B", "I;16L", "I"):
                grey = np.rint(np.asarray(im, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8)
                arr = np.repeat(grey[..., None], 3, axis=2)
            elif mode == "F":
                raise ImageReadError(path, "floating-point images are not supported; save it as 8-bit RGB")
            elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                arr = np.asarray(im.convert("RGBA"))[..., :3]
            else:
                arr = np.array(im.convert("RGB"))
    except ImageReadError:
        raise
    except FileNotFoundError as err:
        raise ImageReadError(path, "file not found") from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageReadError(path, f"{type(err).__name__}: {err}") from err
    conversion = _describe_conversion(mode, sixteen_bit)
    if conversion:
        warnings.warn(f"{path}: {conversion}", UserWarning, stacklevel=2)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _describe_conversion(mode: str, sixteen_bit: bool) -> str:
    if sixteen_bit:
        return f"16-bit image (mode {mode}) reduced to 8-bit RGB"
    if mode == "RGB":
        return ""
    if mode in ("L", "1"):
        return f"grayscale image (mode {mode}) converted to RGB by repeating the channel"
    if mode in ("RGBA", "LA", "PA"):
        return f"image with alpha (mode {mode}) converted to RGB by dropping the alpha channel"
    if mode == "P":
        return "palette image (mode P) converted to RGB (alpha, if any, dropped)"
    return f"image in mode {mode} converted to RGB"


def write_image(path: str | os.PathLike, img: np.ndarray | Tensor | Image.Image, *, png_compress_level: int = 3) -> Path:
    """Write ``(H,W,3)`` uint8, a ``(3,H,W)`` float [0,1] tensor or a PIL image to ``path`` (format from the
    extension).

    The file is written to a temporary name and moved into place (:func:`gansr.utils.atomic.atomic_path`: the name
    holds host, PID and a random tag), so concurrent writers (dataloader workers, DDP ranks, the nodes of a
    multi-node job on a shared file system) never leave a half-written file nor move each other's. PNG compression level 3 as BasicSR's sub-image extraction.
    """
    path = Path(path)
    arr = to_uint8(img) if isinstance(img, Tensor) else img if isinstance(img, Image.Image) else np.asarray(img)
    if isinstance(arr, np.ndarray) and (arr.dtype != np.uint8 or arr.ndim not in (2, 3)):
        raise ValueError(f"write_image expects (H,W,3) uint8 or a (3,H,W) tensor, got {arr.dtype} {arr.shape}")
    fmt = _PIL_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"write_image: unknown image extension {path.suffix!r} in {path}; use one of {IMAGE_EXTENSIONS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"compress_level": png_compress_level} if fmt == "PNG" else {}
    with atomic_path(path) as tmp:
        (arr if isinstance(arr, Image.Image) else Image.fromarray(arr)).save(tmp, format=fmt, **kwargs)
    return path


def to_tensor(arr: np.ndarray) -> Tensor:
    """``(H,W,3)`` uint8 -> ``(3,H,W)`` float32 in [0,1]."""
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise ValueError(f"to_tensor expects an (H,W,C) uint8 array, got {arr.dtype} {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(255.0)


def to_uint8(img: Tensor) -> np.ndarray:
    """``(3,H,W)`` float tensor in [0,1] -> ``(H,W,3)`` uint8 (clamped to [0,1], x255, rounded)."""
    if img.ndim != 3:
        raise ValueError(f"to_uint8 expects a (3,H,W) tensor, got shape {tuple(img.shape)}")
    arr = img.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8).cpu().numpy()
    return np.ascontiguousarray(arr.transpose(1, 2, 0))


def list_images(folder: str | os.PathLike, *, hint: str = "") -> list[Path]:
    """Image files directly inside ``folder`` (png/jpg/jpeg/bmp/tif/tiff/webp), sorted by name.

    Every entry with an image suffix that is not a folder is listed, also a symbolic link that leads nowhere (a
    loop, a deleted target): reading it then fails naming the file, instead of the image being left out unsaid.

    Raises:
        DatasetNotFoundError: the folder does not exist, or holds no images. ``hint`` (how to get the data) is
            appended to the message.
    """
    folder = Path(folder)
    how = f" {hint}" if hint else ""
    if not folder.is_dir():
        raise DatasetNotFoundError(f"image folder {folder} does not exist.{how}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_dir()
                   and not p.name.startswith("."))
    if not files:
        raise DatasetNotFoundError(f"no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)}).{how}")
    return files
