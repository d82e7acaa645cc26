"""Offline demo data: natural RGB photos shipped inside the scikit-image wheel (no download).

A fixed split (by file name, so it is the same on every machine) of the RGB photographs in ``skimage/data``:
five for training and two held out for validation. They are written once as PNGs under
``<cache_dir>/{train,heldout}/HR`` so the usual folder datasets read them; their LR images are cached next to
them in ``LR_bicubic/X{s}``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import os
from pathlib import Path

import skimage

from gansr.data.datamodule import SRDataModule
from gansr.data.datasets import HRFolderDataset, default_cache_dir
from gansr.data.image_io import DatasetNotFoundError, read_image, write_image

if TYPE_CHECKING:  # kornia loads only when a degradation is configured
    from gansr.data.degradations.base import DeviceDegradation

__all__ = ["DEMO_HELDOUT", "DEMO_TRAIN", "demo_datamodule", "demo_folders", "demo_heldout_dataset"]

#: Training photos (scikit-image ``data/`` file names): astronaut Eileen Collins, a rocket launch, a stereo pair
#: of a motorcycle, an immunohistochemistry micrograph.
DEMO_TRAIN = ("astronaut.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png", "ihc.png")
#: Held-out photos: a cat and a cup of coffee.
DEMO_HELDOUT = ("chelsea.png", "coffee.png")


def _skimage_data_dir() -> Path:
    return Path(skimage.__file__).parent / "data"


def demo_folders(cache_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write the demo photos as PNGs once; returns ``(train_dir, heldout_dir)`` (HR folders).

    ``cache_dir`` (the configs pass ``${paths.cache_dir}/demo``) defaults to ``<gansr cache>/demo``
    (``$GANSR_CACHE`` or ``~/.cache/gansr``).

    Raises:
        DatasetNotFoundError: a photo is not shipped with the installed scikit-image.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir() / "demo"
    src = _skimage_data_dir()
    folders = (root / "train" / "HR", root / "heldout" / "HR")
    for names, folder in zip((DEMO_TRAIN, DEMO_HELDOUT), folders):
        for name in names:
            dst = folder / f"{Path(name).stem}.png"
            if dst.is_file():
                continue
            if not (src / name).is_file():
                raise DatasetNotFoundError(
                    f"demo photo {src / name} is not shipped with scikit-image {skimage.__version__}; "
                    "install scikit-image>=0.22 (pip install -U scikit-image)"
                )
            write_image(dst, read_image(src / name))
    return folders


def demo_heldout_dataset(
    cache_dir: str | os.PathLike | None = None,
    scale: int = 4,
    lr_cache_dir: str | os.PathLike | None = None,
) -> HRFolderDataset:
    """The two held-out photos as ``gansr-demo`` evaluates them (whole images, MATLAB-bicubic LR).

    ``cache_dir`` is the demo data folder (``data.cache_dir`` of the demo configs, see :func:`demo_folders`);
    ``lr_cache_dir`` where the LR images are cached (the demo uses ``<out>/lr_cache``; None = next to the HR).
    Items: ``{"lr": (3,h,w), "hr": (3,scale*h,scale*w), "name": str}``.
    """
    _, heldout_dir = demo_folders(cache_dir)
    return HRFolderDataset("demo_heldout", heldout_dir, scale=scale, lr_cache_dir=lr_cache_dir)


def demo_datamodule(
    cache_dir: str | os.PathLike | None = None,
    scale: int = 4,
    patch_size: int = 32,
    batch_size: int = 4,
    repeat: int = 25,
    num_workers: int | None = None,
    pin_memory: bool | None = None,
    seed: int = 0,
    degradation: DeviceDegradation | None = None,
) -> SRDataModule:
    """The demo :class:`SRDataModule`: random ``patch_size`` HR crops of the training photos (augmented,
    each photo visited ``repeat`` times per pass, order and crops fixed by ``seed``) and the two held-out photos as
    the validation set."""
    train_dir, heldout_dir = demo_folders(cache_dir)
    train = HRFolderDataset("demo_train", train_dir, scale, patch_size=patch_size, augment=True, repeat=repeat)
    heldout = HRFolderDataset("demo_heldout", heldout_dir, scale)
    return SRDataModule(train, [heldout], batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                        scale=scale, patch_size=patch_size, seed=seed, degradation=degradation)
