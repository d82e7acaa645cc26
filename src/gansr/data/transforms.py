"""Pure data helpers over ``(H,W,C)`` numpy arrays (any dtype, usually uint8 RGB).

Conventions of the official code: FASRGAN ``codes/data/util.py`` (``modcrop``, ``augment``) and
``codes/data/LRHR_dataset.py`` (random aligned crop), BasicSR ``basicsr/data/transforms.py``
(``mod_crop``, ``paired_random_crop``) — docs/methods.md §1.7.
"""
from __future__ import annotations

import numpy as np

__all__ = ["augment", "mod_crop", "paired_random_crop", "random_augment_flags", "random_crop"]


def mod_crop(img: np.ndarray, mod: int) -> np.ndarray:
    """Crop the bottom/right of ``(H,W[,C])`` so that H and W are multiples of ``mod`` (a view, no copy)."""
    if mod < 1:
        raise ValueError(f"mod_crop: mod must be >= 1, got {mod}")
    h, w = img.shape[:2]
    return img[: h - h % mod, : w - w % mod]


def paired_random_crop(
    lr: np.ndarray,
    hr: np.ndarray,
    lr_patch: int,
    scale: int,
    rng: np.random.Generator,
    *,
    name: str = "image",
) -> tuple[np.ndarray, np.ndarray]:
    """Random aligned crop: ``lr (h,w,C), hr (s*h,s*w,C) -> (lr_patch,lr_patch,C), (s*lr_patch,s*lr_patch,C)``.

    The LR top-left corner ``(y, x)`` is uniform over valid positions and the HR crop starts at ``(s*y, s*x)``,
    so the two crops cover the same scene region (FASRGAN ``LRHR_dataset.py``).

    Raises:
        ValueError: the pair is not ``scale``-aligned, or the LR image is smaller than ``lr_patch`` (names
            ``name`` and both sizes).
    """
    h, w = lr.shape[:2]
    if hr.shape[0] != h * scale or hr.shape[1] != w * scale:
        raise ValueError(
            f"{name}: HR size {hr.shape[1]}x{hr.shape[0]} is not {scale}x the LR size {w}x{h}; "
            f"mod-crop the HR image to a multiple of {scale} before making the LR image"
        )
    if h < lr_patch or w < lr_patch:
        raise ValueError(
            f"{name}: image {w * scale}x{h * scale} (HR) is smaller than the HR patch "
            f"{lr_patch * scale}x{lr_patch * scale}; remove it or lower data.patch_size"
        )
    y = int(rng.integers(0, h - lr_patch + 1))
    x = int(rng.integers(0, w - lr_patch + 1))
    hr_patch = lr_patch * scale
    return (
        lr[y : y + lr_patch, x : x + lr_patch],
        hr[y * scale : y * scale + hr_patch, x * scale : x * scale + hr_patch],
    )


def random_crop(img: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(patch,patch,C)`` crop of ``(H,W,C)`` at a corner uniform over the valid positions (the HR-only
    training patch of the device-side degradations)."""
    h, w = img.shape[:2]
    if h < patch or w < patch:
        raise ValueError(f"image {w}x{h} is smaller than the patch {patch}x{patch}; lower data.patch_size")
    y = int(rng.integers(0, h - patch + 1))
    x = int(rng.integers(0, w - patch + 1))
    return img[y : y + patch, x : x + patch]


def augment(
    lr: np.ndarray, hr: np.ndarray, hflip: bool, vflip: bool, transpose: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the same flips to both ``(H,W,C)`` images: horizontal flip, vertical flip, then H<->W transpose.

    The 8 flag combinations are the 8 symmetries of the square (FASRGAN ``data/util.py::augment``:
    hflip, vflip and rot90-by-transpose, each with p = 0.5 in training).
    """

    def apply(img: np.ndarray) -> np.ndarray:
        if hflip:
            img = img[:, ::-1]
        if vflip:
            img = img[::-1]
        if transpose:
            img = img.swapaxes(0, 1)
        return np.ascontiguousarray(img)

    return apply(lr), apply(hr)


def random_augment_flags(rng: np.random.Generator) -> tuple[bool, bool, bool]:
    """``(hflip, vflip, transpose)``, each True with probability 0.5."""
    hflip, vflip, transpose = (bool(b) for b in rng.random(3) < 0.5)
    return hflip, vflip, transpose
