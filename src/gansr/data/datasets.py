"""Paired LR/HR datasets built from a folder of HR images.

The LR image of every HR image is MATLAB ``imresize(uint8_hr, 1/s, 'bicubic')`` of the whole mod-cropped HR
image (docs/methods.md §1.7 / 2.8: FASRGAN ``scripts/generate_mod_LR_bic.m``, the EDSR/SwinIR ``LR_bicubic/X{s}``
benchmark convention). It is made once and cached as ``<stem>x{s}.png``, so an item costs two PNG reads
(HR and LR) plus a crop — never a resize.

Where the LR images live (first match wins; ``leaf`` is ``X{s}``, or ``X{s}_mod{m}`` when ``mod != scale``):

1. ``<hr_dir>/../LR_bicubic/<leaf>`` when it already holds ``<stem>x{s}.png`` for every HR image (the layout of
   the EDSR/SwinIR benchmark packages; such a folder is only read);
2. ``lr_cache_dir`` when given;
3. ``<hr_dir>/../LR_bicubic/<leaf>`` when that location is writable (its permission bits allow writing);
4. ``$GANSR_CACHE/lr/<name>_<hash>/<leaf>`` (default ``~/.cache/gansr/lr/<name>_<hash>/<leaf>``), where
   ``<hash>`` identifies the HR folder, so two folders with the same dataset name never share LR files.

The datasets do no file I/O in ``__init__`` (Hydra can build them before the data exist); :meth:`prepare` lists
the images, checks them and writes the missing LR files. ``SRDataModule`` calls it in ``prepare_data`` and
``setup``; ``len()``/indexing call it on first use.
"""
from __future__ import annotations

import hashlib
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from gansr.data.decoded_cache import read_decoded
from gansr.data.image_io import ImageReadError, list_images, read_image, to_tensor, write_image
from gansr.data.imresize import imresize_uint8
from gansr.data.transforms import augment as augment_pair
from gansr.data.transforms import mod_crop, paired_random_crop, random_augment_flags, random_crop

__all__ = ["HRFolderDataset", "default_cache_dir", "lr_file_name", "make_lr"]


def default_cache_dir() -> Path:
    """The gansr cache folder: ``$GANSR_CACHE`` if set, else ``~/.cache/gansr``."""
    return Path(os.environ.get("GANSR_CACHE") or Path.home() / ".cache" / "gansr")


def lr_file_name(stem: str, scale: int) -> str:
    """Benchmark LR naming: ``baby`` -> ``babyx4.png``."""
    return f"{stem}x{scale}.png"


def make_lr(hr: np.ndarray, scale: int, kind: str = "bicubic", stem: str = "") -> np.ndarray:
    """MATLAB-exact bicubic LR of an already mod-cropped HR image: ``(s*h,s*w,3)`` uint8 -> ``(h,w,3)`` uint8.

    Runs on one CPU thread: the resize is a few dozen small memory-bound passes, which intra-op threading
    only slows down (25x measured on a busy 2-core machine). ``kind`` ``bd``/``dn``: the benchmark degradations
    (:func:`gansr.data.degradations.make_degraded_lr`; ``stem`` seeds the DN noise).
    """
    if kind != "bicubic":
        from gansr.data.degradations import make_degraded_lr  # kornia loads only for these kinds

        return make_degraded_lr(hr, scale, kind, stem)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return imresize_uint8(hr, 1 / scale)
    finally:
        torch.set_num_threads(threads)


def _writable(folder: Path) -> bool:
    """True when ``folder`` (or its nearest existing ancestor) may be written to.

    Permission bits are checked as well as ``os.access`` so that read-only data folders stay untouched when
    running as root (who may write anywhere).
    """
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return os.access(probe, os.W_OK) and bool(probe.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _image_size(path: Path) -> tuple[int, int] | None:
    """``(w, h)`` from the file header, or None when it cannot be read (reported with its name when loaded).

    Raises:
        ImageReadError: naming the file, when its header claims more pixels than Pillow decodes (``Image.open``'s
            ``DecompressionBombError``: twice ``Image.MAX_IMAGE_PIXELS``, about 179 million pixels by default).
    """
    try:
        with Image.open(path) as im:
            return im.size
    except Image.DecompressionBombError as err:
        raise ImageReadError(path, f"DecompressionBombError: {err}") from None  # Pillow names no file
    except OSError:
        return None


@dataclass(frozen=True)
class _Pair:
    hr: Path
    lr: Path
    name: str


class HRFolderDataset(Dataset):
    """HR images of a folder paired with their MATLAB-bicubic LR images.

    Items: ``{"lr": (3,h,w), "hr": (3,s*h,s*w), "name": str}``, float32 RGB in [0,1].
    ``patch_size=None``: whole images, HR mod-cropped to ``mod`` (validation/test).
    ``patch_size=P``: a random aligned crop, HR ``(3,P,P)`` and LR ``(3,P/s,P/s)``, flipped/transposed when
    ``augment`` (docs/methods.md §1.7).

    Args:
        name: dataset name (logged metric names ``val/<name>/psnr``; LR cache sub-folder).
        hr_dir: folder of HR images (png/jpg/jpeg/bmp/tif/webp; non-RGB files are converted with a warning).
        scale: SR factor s.
        patch_size: HR training patch size (a multiple of ``scale``), or None for whole images.
        augment: random hflip, vflip and transpose, each p = 0.5.
        mod: HR images are cropped (bottom/right) to a multiple of ``mod`` (a multiple of ``scale``;
            default ``scale``). FASRGAN's evaluation used ``mod=12`` ("GTmod12", docs/methods.md §1.8).
        lr_cache_dir: folder for the cached LR PNGs (see the module docstring for the default).
        repeat: each epoch visits every image ``repeat`` times (BasicSR ``dataset_enlarge_ratio``).
        decoded_cache_dir: read the HR and LR images from a uint8 cache there (decoded once, memory-mapped,
            :mod:`gansr.data.decoded_cache`) instead of decoding the files for every item. None = decode every time.
        hint: how to get the data; appended to the error when ``hr_dir`` is missing or empty.
    """

    def __init__(
        self,
        name: str,
        hr_dir: str | os.PathLike,
        scale: int,
        patch_size: int | None = None,
        augment: bool = False,
        mod: int | None = None,
        lr_cache_dir: str | os.PathLike | None = None,
        repeat: int = 1,
        hint: str = "",
        decoded_cache_dir: str | os.PathLike | None = None,
    ):
        super().__init__()
        self.name = name
        self.hr_dir = Path(hr_dir).expanduser()
        self.scale = int(scale)
        self.patch_size = None if patch_size is None else int(patch_size)
        self.augment = bool(augment)
        self.mod = self.scale if mod is None else int(mod)
        self.lr_cache_dir = None if lr_cache_dir is None else Path(lr_cache_dir).expanduser()
        self.repeat = int(repeat)
        self.hint = hint
        self.decoded_cache_dir = None if decoded_cache_dir is None else Path(decoded_cache_dir).expanduser()
        if self.scale < 1:
            raise ValueError(f"{name}: scale must be a positive integer, got {scale}")
        if self.mod % self.scale:
            raise ValueError(f"{name}: mod={self.mod} must be a multiple of scale={self.scale}")
        if self.patch_size is not None and (self.patch_size < self.scale or self.patch_size % self.scale):
            raise ValueError(f"{name}: patch_size={self.patch_size} must be a positive multiple of scale={self.scale}")
        if self.repeat < 1:
            raise ValueError(f"{name}: repeat must be >= 1, got {repeat}")
        self._pairs: list[_Pair] | None = None
        self.lr_kind = "bicubic"
        self.hr_only = False

    def use_lr_kind(self, kind: str) -> None:
        """Read (and make when missing) the LR of degradation ``kind`` (``bicubic``, ``bd``, ``dn``) instead of the
        bicubic one: ``<hr_dir>/../LR_<KIND>/X{s}``, e.g. ``LR_BD/X3`` (the RDN test-set layout)."""
        if kind not in ("bicubic", "bd", "dn"):
            raise ValueError(f"{self.name}: unknown LR kind {kind!r}; choose bicubic, bd or dn")
        if self._pairs is not None and kind != self.lr_kind:
            raise RuntimeError(f"{self.name}: the LR kind must be chosen before the dataset is prepared")
        self.lr_kind = kind
        if kind != "bicubic" and self.lr_cache_dir is not None:
            self.lr_cache_dir = self.lr_cache_dir.with_name(f"{self.lr_cache_dir.name}_{kind.upper()}")

    def use_hr_patches_only(self) -> bool:
        """Training items become HR patches alone (``{"hr", "name"}``: no LR file is made or read, no flips): the
        LR is made on the training device (:mod:`gansr.data.degradations`). Returns whether the dataset was
        set to augment, for the device to flip instead."""
        if self.patch_size is None:
            raise ValueError(f"{self.name}: only a training dataset (patch_size set) can give HR patches only")
        augment, self.augment, self.hr_only = self.augment, False, True
        return augment

    # ------------------------------------------------------------------ preparation
    @property
    def lr_leaf(self) -> str:
        return f"X{self.scale}" if self.mod == self.scale else f"X{self.scale}_mod{self.mod}"

    @property
    def lr_folder_name(self) -> str:
        """``LR_bicubic``, ``LR_BD`` or ``LR_DN``: the sibling folder of ``HR`` that holds this kind's LR."""
        return "LR_bicubic" if self.lr_kind == "bicubic" else f"LR_{self.lr_kind.upper()}"

    def _lr_size(self, hr_size: tuple[int, int] | None) -> tuple[int, int] | None:
        """``(w, h)`` of the LR image that belongs to an HR image of size ``hr_size`` (``(w, h)``)."""
        if hr_size is None:
            return None
        w, h = hr_size
        return (w - w % self.mod) // self.scale, (h - h % self.mod) // self.scale

    def _resolve_lr_dir(self, hr_sizes: dict[Path, tuple[int, int] | None]) -> Path:
        sibling = self.hr_dir.parent / self.lr_folder_name / self.lr_leaf
        if sibling.is_dir() and all(
            _image_size(sibling / lr_file_name(f.stem, self.scale)) == self._lr_size(size)
            for f, size in hr_sizes.items()
        ):
            return sibling
        if self.lr_cache_dir is not None:
            return self.lr_cache_dir
        if _writable(sibling):
            return sibling
        folder_id = hashlib.sha1(str(self.hr_dir.resolve()).encode()).hexdigest()[:8]
        kind = "" if self.lr_kind == "bicubic" else f"_{self.lr_kind.upper()}"
        return default_cache_dir() / "lr" / f"{self.name}_{folder_id}" / f"{self.lr_leaf}{kind}"

    def prepare(self) -> None:
        """List and check the HR images, then write every missing LR image (idempotent, safe to call twice).

        An LR file whose size does not match its mod-cropped HR image (a stale cache) is made again, with a
        warning.

        Raises:
            DatasetNotFoundError: ``hr_dir`` is missing or holds no images.
            ValueError: two files share a stem, or images are smaller than the patch (all named at once).
            ImageReadError: an HR image that needs its LR made cannot be read.
        """
        if self._pairs is not None:
            return
        files = list_images(self.hr_dir, hint=self.hint)
        stems = [f.stem for f in files]
        dupes = sorted({s for s in stems if stems.count(s) > 1})
        if dupes:
            raise ValueError(f"{self.name}: files in {self.hr_dir} share a name stem ({', '.join(dupes)}); rename them")
        hr_sizes = {f: _image_size(f) for f in files}
        if self.patch_size is not None:
            self._check_patch_fits(hr_sizes)
        if self.hr_only:
            self._pairs = [_Pair(f, f, f.stem) for f in files]  # the "LR" is made on the device
            return
        lr_dir = self._resolve_lr_dir(hr_sizes)
        pairs = [_Pair(f, lr_dir / lr_file_name(f.stem, self.scale), f.stem) for f in files]
        lr_sizes = {p.lr: _image_size(p.lr) if p.lr.is_file() else None for p in pairs}
        stale = [p for p in pairs if lr_sizes[p.lr] is not None and lr_sizes[p.lr] != self._lr_size(hr_sizes[p.hr])]
        if stale:
            warnings.warn(f"{self.name}: {len(stale)} LR file(s) in {lr_dir} do not match their HR size "
                          f"(first: {stale[0].lr.name}); making them again", UserWarning, stacklevel=2)
        todo = [p for p in pairs if lr_sizes[p.lr] is None] + stale
        for pair in tqdm(todo, desc=f"{self.name}: making LR x{self.scale} in {lr_dir}", disable=len(todo) < 20):
            hr = mod_crop(read_image(pair.hr), self.mod)
            write_image(pair.lr, make_lr(hr, self.scale, self.lr_kind, pair.name))
        self._pairs = pairs

    def _check_patch_fits(self, hr_sizes: dict[Path, tuple[int, int] | None]) -> None:
        too_small = [
            f"{f} ({size[0]}x{size[1]})"
            for f, size in hr_sizes.items()
            if size is not None and min(self._lr_size(size)) * self.scale < self.patch_size
        ]
        if too_small:
            raise ValueError(
                f"{self.name}: {len(too_small)} image(s) smaller than the HR patch "
                f"{self.patch_size}x{self.patch_size}: {'; '.join(too_small)}. Remove them or lower data.patch_size"
            )

    @property
    def pairs(self) -> list[_Pair]:
        """``(hr_path, lr_path, name)`` of every image (prepares the dataset on first use)."""
        self.prepare()
        assert self._pairs is not None
        return self._pairs

    @property
    def lr_dir(self) -> Path:
        return self.pairs[0].lr.parent

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def __getitem__(self, index: int) -> dict:
        """Item ``index``; a training patch takes its crop and flips from torch's random generator (in a DataLoader
        worker: the worker's seed). The training loader reads :meth:`item` with a per-position generator instead
        (:mod:`gansr.data.sampling`)."""
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()))) if self.patch_size is not None else None
        return self.item(index, rng)

    def item(self, index: int, rng: np.random.Generator | None) -> dict:
        """Item ``index`` with its random crop corner and flips drawn from ``rng`` (unused for whole images)."""
        pair = self.pairs[index % len(self.pairs)]
        hr = mod_crop(self._read(pair.hr), self.mod)
        if self.hr_only:
            return {"hr": to_tensor(random_crop(hr, self.patch_size, rng)), "name": pair.name}
        lr = self._read(pair.lr)
        if hr.shape[0] != lr.shape[0] * self.scale or hr.shape[1] != lr.shape[1] * self.scale:
            raise ValueError(
                f"{pair.lr} is {lr.shape[1]}x{lr.shape[0]} but {pair.hr} mod-cropped to {self.mod} is "
                f"{hr.shape[1]}x{hr.shape[0]}; delete the stale LR file (it is made again)"
            )
        if self.patch_size is not None:
            lr, hr = paired_random_crop(lr, hr, self.patch_size // self.scale, self.scale, rng, name=str(pair.hr))
            if self.augment:
                lr, hr = augment_pair(lr, hr, *random_augment_flags(rng))
        return {"lr": to_tensor(lr), "hr": to_tensor(hr), "name": pair.name}

    def _read(self, path: Path) -> np.ndarray:
        """``(H,W,3)`` uint8 of ``path``: decoded, or mapped from the decoded cache when there is one."""
        return read_image(path) if self.decoded_cache_dir is None else read_decoded(path, self.decoded_cache_dir)

    def fill_decoded_cache(self) -> None:
        """Decode every HR and LR image into ``decoded_cache_dir`` now (otherwise each is cached on first use)."""
        if self.decoded_cache_dir is None:
            raise ValueError(f"{self.name}: no decoded_cache_dir set")
        for pair in tqdm(self.pairs, desc=f"{self.name}: decoding into {self.decoded_cache_dir}",
                         disable=len(self.pairs) < 20):
            read_decoded(pair.hr, self.decoded_cache_dir)
            read_decoded(pair.lr, self.decoded_cache_dir)

    def __repr__(self) -> str:
        crop = "full images" if self.patch_size is None else f"patch {self.patch_size}"
        return f"{type(self).__name__}(name={self.name!r}, hr_dir={str(self.hr_dir)!r}, x{self.scale}, {crop})"

