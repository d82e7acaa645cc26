"""DIV2K: download, sub-image extraction and the sub-image training dataset.

Training data of ESRGAN and FASRGAN (docs/methods.md §1.7, 2.5): the 800 DIV2K training HR images (Agustsson &
Timofte, NTIRE 2017, https://data.vision.ee.ethz.ch/cvl/DIV2K/) cut into 480x480 sub-images with step 240
(FASRGAN ``scripts/extract_subimgs_single.py``: crop 480, step 240, threshold 48; BasicSR
``scripts/data_preparation/extract_subimages.py``: LR 120/60 at x4, PNG compression 3), with LR sub-images cut
at the same places from the MATLAB-bicubic LR of the whole image. A training sample is then two small PNG
reads and a crop. ``extract_subimages`` works on any folder of HR images.

Layout under a data root (``paths.data_dir``)::

    <root>/DIV2K/DIV2K_train_HR/0001.png ... 0800.png     (DIV2K_train_HR.zip)
    <root>/DIV2K/DIV2K_train_HR_sub/HR/0001_s001.png ...  (extract_subimages)
    <root>/DIV2K/DIV2K_train_HR_sub/LR_bicubic/X4/0001_s001x4.png ...
    <root>/DIV2K_val/HR/0801.png ... 0900.png             (DIV2K_valid_HR.zip; benchmark name DIV2K_val)

Command line: ``python -m gansr.data.div2k --root <root>`` downloads both zips (or uses zips already placed
at ``<root>/DIV2K/``) and extracts the x4 sub-images.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import urllib.error
import urllib.request
import warnings
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from gansr.data.datasets import HRFolderDataset, lr_file_name, make_lr
from gansr.data.image_io import IMAGE_EXTENSIONS, DatasetNotFoundError, list_images, read_image, write_image
from gansr.data.transforms import mod_crop
from gansr.utils.atomic import atomic_path
from gansr.utils.errors import GansrError

__all__ = [
    "DIV2K_SHA256",
    "DIV2K_URLS",
    "DatasetDownloadError",
    "SubImageDataset",
    "download_div2k",
    "extract_subimages",
    "main",
    "subimage_starts",
]

#: Official download links (ETH Zurich CVL).
DIV2K_URLS: dict[str, str] = {
    "train_HR": "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
    "valid_HR": "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
}
#: SHA-256 of the zips. The DIV2K page publishes no checksums and none were verified for this project, so the
#: values are unknown (None: not checked). Pass ``sha256=`` to :func:`download_div2k` to check a known value.
DIV2K_SHA256: dict[str, str | None] = {"train_HR": None, "valid_HR": None}


class DatasetDownloadError(GansrError, RuntimeError):
    """A dataset archive could not be fetched or failed its checksum; the message says what to do by hand."""


def _split_dirs(root: Path) -> dict[str, Path]:
    return {"train_HR": root / "DIV2K" / "DIV2K_train_HR", "valid_HR": root / "DIV2K_val" / "HR"}


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, dest: Path, target: Path, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        # a temporary name unique across processes and hosts (the nodes of a multi-node job share the folder)
        with atomic_path(dest) as part, urllib.request.urlopen(url, timeout=timeout) as response, \
                open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError) as err:
        raise DatasetDownloadError(
            f"could not download {url} ({err}). Fetch it by hand and put it at {dest} "
            f"(or unzip its images into {target}), then run again"
        ) from err


def _unzip_images(zip_path: Path, target: Path) -> int:
    """Extract the image files of ``zip_path`` flat into ``target`` (folder names inside the zip dropped)."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if info.is_dir() or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            with zf.open(info) as src, atomic_path(target / name) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
    return count


def download_div2k(
    root: str | os.PathLike,
    splits: tuple[str, ...] = ("train_HR", "valid_HR"),
    sha256: dict[str, str | None] | None = None,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """Download and unzip DIV2K HR splits into the layout of this module; returns ``{split: image folder}``.

    A split whose folder already holds images is skipped; a zip already placed at ``<root>/DIV2K/<zip name>``
    is used instead of downloading.

    Raises:
        DatasetDownloadError: offline/unreachable (the message names the URL and where to put the zip), or the
            zip does not match a given sha256.
    """
    root = Path(root).expanduser()
    sha256 = {**DIV2K_SHA256, **(sha256 or {})}
    out: dict[str, Path] = {}
    for split in splits:
        if split not in DIV2K_URLS:
            raise ValueError(f"unknown DIV2K split {split!r}; choose from {', '.join(DIV2K_URLS)}")
        target = _split_dirs(root)[split]
        out[split] = target
        if _has_images(target):
            continue
        url = DIV2K_URLS[split]
        zip_path = root / "DIV2K" / Path(url).name
        if not zip_path.is_file():
            _fetch(url, zip_path, target, timeout)
        expected = sha256.get(split)
        if expected and _sha256(zip_path) != expected.lower():
            raise DatasetDownloadError(
                f"{zip_path} does not match sha256 {expected}; delete it and download {url} again"
            )
        try:
            _unzip_images(zip_path, target)
        except zipfile.BadZipFile as err:
            raise DatasetDownloadError(f"{zip_path} is not a valid zip ({err}); delete it and download {url} again") from err
    return out


def subimage_starts(length: int, crop: int, step: int, thresh: int) -> list[int]:
    """Top (or left) corners of the sub-images along one side (BasicSR ``extract_subimages.py``).

    Corners ``0, step, 2*step, ...`` while the crop fits; one more crop flush with the far edge when more than
    ``thresh`` pixels would be left over. Empty when ``length < crop``.
    """
    if length < crop:
        return []
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return starts


def _extract_one(path: Path, out_dir: Path, scale: int, crop: int, step: int, thresh: int) -> int:
    """Sub-images of one HR image; returns how many (0 when the image is smaller than ``crop``)."""
    with Image.open(path) as im:
        w, h = im.size
    h, w = h - h % scale, w - w % scale
    corners = [(y, x) for y in subimage_starts(h, crop, step, thresh) for x in subimage_starts(w, crop, step, thresh)]
    if not corners:
        return 0
    lr_dir = out_dir / "LR_bicubic" / f"X{scale}"
    names = [f"{path.stem}_s{i:03d}" for i in range(1, len(corners) + 1)]
    if (lr_dir / lr_file_name(names[-1], scale)).is_file():  # written last: this image is done
        return len(corners)
    hr = mod_crop(read_image(path), scale)
    lr = make_lr(hr, scale)
    lr_crop = crop // scale
    for name, (y, x) in zip(names, corners):
        write_image(out_dir / "HR" / f"{name}.png", hr[y : y + crop, x : x + crop])
        ly, lx = y // scale, x // scale
        write_image(lr_dir / lr_file_name(name, scale), lr[ly : ly + lr_crop, lx : lx + lr_crop])
    return len(corners)


def extract_subimages(
    hr_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    crop: int = 480,
    step: int = 240,
    thresh: int = 48,
    scale: int = 4,
    num_workers: int = 0,
) -> int:
    """Cut every HR image of ``hr_dir`` into ``crop``-sized sub-images, with matching LR sub-images.

    Writes ``<out_dir>/HR/<stem>_s###.png`` (``crop`` x ``crop``) and
    ``<out_dir>/LR_bicubic/X{scale}/<stem>_s###x{scale}.png`` (``crop/scale`` square), the LR cut from the
    MATLAB-exact bicubic LR of the whole (mod-cropped) HR image. Defaults: FASRGAN's 480/240/48 (docs/methods.md §1.7); BasicSR uses ``thresh=0``. Images already done are skipped; images smaller than ``crop`` are skipped
    with a warning. Returns the number of sub-images.
    """
    hr_dir, out_dir = Path(hr_dir).expanduser(), Path(out_dir).expanduser()
    if crop % scale or step % scale:
        raise ValueError(f"crop={crop} and step={step} must be multiples of scale={scale} to keep LR/HR aligned")
    files = list_images(hr_dir)
    args = [(f, out_dir, scale, crop, step, thresh) for f in files]
    desc = f"sub-images {crop}px of {hr_dir.name}"
    if num_workers > 0:
        with ProcessPoolExecutor(num_workers) as pool:
            futures = [pool.submit(_extract_one, *a) for a in args]
            counts = [fut.result() for fut in tqdm(futures, desc=desc)]
    else:
        counts = [_extract_one(*a) for a in tqdm(args, desc=desc, disable=len(args) < 20)]
    skipped = [f.name for f, n in zip(files, counts) if n == 0]
    if skipped:
        warnings.warn(f"{len(skipped)} image(s) in {hr_dir} smaller than {crop}px skipped: {', '.join(skipped)}",
                      UserWarning, stacklevel=2)
    return sum(counts)


class SubImageDataset(HRFolderDataset):
    """Training pairs from a sub-image folder made by :func:`extract_subimages` (random crop + augmentation).

    ``root`` holds ``HR/`` and ``LR_bicubic/X{scale}/``. Items and ``decoded_cache_dir`` as :class:`HRFolderDataset`.
    """

    def __init__(
        self,
        name: str,
        root: str | os.PathLike,
        scale: int,
        patch_size: int,
        augment: bool = True,
        repeat: int = 1,
        hint: str = "",
        decoded_cache_dir: str | os.PathLike | None = None,
    ):
        root = Path(root).expanduser()
        hint = hint or (
            f"Make the sub-images with `python -m gansr.data.div2k --root <data_dir>` (DIV2K) or "
            f"gansr.data.div2k.extract_subimages(<hr folder>, {root}, scale={scale})."
        )
        super().__init__(name, root / "HR", scale, patch_size, augment, None,
                         root / "LR_bicubic" / f"X{scale}", repeat, hint, decoded_cache_dir)

    def prepare(self) -> None:
        """As :meth:`HRFolderDataset.prepare`, but every LR sub-image must exist already: they are cut from the
        LR of the whole image, which resizing the sub-image would not reproduce at its borders."""
        if self._pairs is None and not self.hr_only:
            missing = [f.name for f in list_images(self.hr_dir, hint=self.hint)
                       if not (self.lr_cache_dir / lr_file_name(f.stem, self.scale)).is_file()]
            if missing:
                raise DatasetNotFoundError(
                    f"{self.name}: {len(missing)} LR sub-image(s) missing in {self.lr_cache_dir} "
                    f"(first: {missing[0]}). {self.hint}"
                )
        super().prepare()


def main(argv: list[str] | None = None) -> int:
    """``python -m gansr.data.div2k --root DIR``: download DIV2K HR and extract training sub-images."""
    parser = argparse.ArgumentParser(prog="python -m gansr.data.div2k", description=main.__doc__)
    parser.add_argument("--root", required=True, type=Path, help="data root (paths.data_dir)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--crop", type=int, default=480, help="HR sub-image size (default 480)")
    parser.add_argument("--step", type=int, default=240, help="HR stride (default 240)")
    parser.add_argument("--thresh", type=int, default=48, help="min leftover for an extra edge crop (default 48)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    try:
        dirs = download_div2k(args.root)
    except DatasetDownloadError as err:
        parser.exit(1, f"error: {err}\n")
    out = args.root / "DIV2K" / "DIV2K_train_HR_sub"
    n = extract_subimages(dirs["train_HR"], out, args.crop, args.step, args.thresh, args.scale, args.workers)
    print(f"{n} sub-images in {out}; validation HR in {dirs['valid_HR']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
