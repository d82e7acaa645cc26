"""Flickr2K and OST: the rest of the released ESRGAN model's training data ("DF2K+OST", ESRGAN paper Sec. 4.1:
DIV2K + Flickr2K + OutdoorSceneTraining), as sub-image folders like DIV2K's (:mod:`gansr.data.div2k`).

Layout under a data root (``paths.data_dir``)::

    <root>/Flickr2K/Flickr2K.tar                         (EDSR's archive; downloaded or placed by hand)
    <root>/Flickr2K/Flickr2K_HR/000001.png ...           (2,650 images)
    <root>/Flickr2K/Flickr2K_HR_sub/HR, LR_bicubic/X4    (extract_subimages, 480 / 240 / 48)
    <root>/OST/OutdoorSceneTrain_v2.zip                  (SFTGAN's OST training set; placed by hand, see OST_SOURCE)
    <root>/OST/OST_HR/<category>_<name>.png ...          (the category folders flattened)
    <root>/OST/OST_HR_sub/HR, LR_bicubic/X4

``python -m gansr.data.extra_sets --root <root> [--sets flickr2k ost]`` fetches (Flickr2K) or finds (OST) each
archive, checks its sha256 when one is known or given (``--sha256 flickr2k=<hex>``), unpacks its images and cuts
the x4 sub-images. ``data=df2k_ost`` then trains on DIV2K + Flickr2K + OST (:class:`ConcatTrainSet`).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gansr.data.div2k import DatasetDownloadError, _fetch, _has_images, _sha256, extract_subimages
from gansr.data.image_io import IMAGE_EXTENSIONS, DatasetNotFoundError

__all__ = ["EXTRA_SETS", "ConcatTrainSet", "ExtraSet", "main", "prepare_extra_set", "unpack_images"]

#: where OST can be had: no direct download link exists (SFTGAN project page, BasicSR's docs: Google Drive / Baidu)
OST_SOURCE = ("http://mmlab.ie.cuhk.edu.hk/projects/SFTGAN/ (OutdoorSceneTrain_v2; also linked from BasicSR "
              "docs/DatasetPreparation.md)")


@dataclass(frozen=True)
class ExtraSet:
    """One training set: its archive (``url`` None: placed by hand from ``source``), the sha256 of the archive
    (None: no published value, not checked unless one is given) and its folders under the data root."""

    key: str
    folder: str
    archive: str
    url: str | None
    sha256: str | None
    source: str

    def hr_dir(self, root: Path) -> Path:
        return root / self.folder / f"{self.folder.split('/')[-1]}_HR"

    def sub_dir(self, root: Path) -> Path:
        return root / self.folder / f"{self.folder.split('/')[-1]}_HR_sub"


EXTRA_SETS: dict[str, ExtraSet] = {
    "flickr2k": ExtraSet("flickr2k", "Flickr2K", "Flickr2K.tar", "https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",
                         None, "EDSR-PyTorch README (Flickr2K, 2,650 images)"),
    "ost": ExtraSet("ost", "OST", "OutdoorSceneTrain_v2.zip", None, None, OST_SOURCE),
}


def _image_name(member: str, taken: set[str]) -> str | None:
    """The flat file name of an archive member that is an image (``<parent>_<name>`` if the name is taken)."""
    path = Path(member)
    if path.suffix.lower() not in IMAGE_EXTENSIONS or path.name.startswith("."):
        return None
    name = path.name if path.name not in taken else f"{path.parent.name}_{path.name}"
    if name in taken:
        raise DatasetDownloadError(f"two images named {name} in the archive; unpack it by hand")
    taken.add(name)
    return name


def unpack_images(archive: Path, target: Path) -> int:
    """Copy the image files of a .zip or .tar(.gz) ``archive`` flat into ``target`` (folders dropped, links and
    other non-regular members ignored: nothing is written outside ``target``). Returns how many."""
    target.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    count = 0
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    name = None if info.is_dir() else _image_name(info.filename, taken)
                    if name:
                        with zf.open(info) as src, open(target / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        count += 1
        else:
            with tarfile.open(archive) as tf:
                for member in tf:
                    name = _image_name(member.name, taken) if member.isfile() else None
                    if name:
                        with tf.extractfile(member) as src, open(target / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        count += 1
    except (zipfile.BadZipFile, tarfile.TarError) as err:
        raise DatasetDownloadError(f"{archive} is not a readable archive ({err}); delete it and fetch it again") from err
    return count


def prepare_extra_set(key: str, root: str | os.PathLike, *, sha256: str | None = None, crop: int = 480,
                      step: int = 240, thresh: int = 48, scale: int = 4, timeout: float = 60.0,
                      url: str | None = None) -> Path:
    """Fetch (or find) the archive of ``EXTRA_SETS[key]``, check its sha256, unpack its images and cut x``scale``
    sub-images; returns the sub-image folder (the ``root`` of a :class:`~gansr.data.div2k.SubImageDataset`).

    Steps already done are skipped (images unpacked, sub-images cut). ``url`` replaces the set's URL (tests:
    ``file://``). Raises :class:`~gansr.data.div2k.DatasetDownloadError` with what to do by hand when the
    archive cannot be fetched or does not match the checksum.
    """
    spec, root = EXTRA_SETS[key], Path(root).expanduser()
    hr_dir, archive = spec.hr_dir(root), root / spec.folder / spec.archive
    if not _has_images(hr_dir):
        if not archive.is_file():
            if (url or spec.url) is None:
                raise DatasetDownloadError(f"{spec.archive} has no direct download: get it from {spec.source} and put "
                                           f"it at {archive} (or its images into {hr_dir}), then run again")
            _fetch(url or spec.url, archive, hr_dir, timeout)
        expected = sha256 or spec.sha256
        if expected and _sha256(archive) != expected.lower():
            raise DatasetDownloadError(f"{archive} does not match sha256 {expected}; delete it and fetch it again "
                                       f"({url or spec.url or spec.source})")
        if unpack_images(archive, hr_dir) == 0:
            raise DatasetDownloadError(f"{archive} holds no images; is it {spec.archive} from {spec.source}?")
    out = spec.sub_dir(root)
    extract_subimages(hr_dir, out, crop, step, thresh, scale)
    return out


class ConcatTrainSet(Dataset):
    """Several training sets read as one (DF2K+OST = DIV2K + Flickr2K + OST sub-images): item ``i`` is item ``i``
    of the first set, then of the second, ...; ``item(index, rng)`` as :class:`gansr.data.datasets.HRFolderDataset`,
    so the seeded stream (:mod:`gansr.data.sampling`) shuffles over all of them.

    Args:
        name: the name shown in messages.
        datasets: the sets (each with ``prepare()``, ``__len__``, ``item(index, rng)`` and the same ``patch_size``).
    """

    def __init__(self, name: str, datasets: list[Dataset]) -> None:
        if not datasets:
            raise ValueError(f"{name}: ConcatTrainSet needs at least one dataset")
        sizes = {getattr(d, "patch_size", None) for d in datasets}
        if len(sizes) != 1:
            raise ValueError(f"{name}: the datasets have different patch sizes {sorted(map(str, sizes))}")
        self.name, self.datasets, self.patch_size = name, list(datasets), sizes.pop()

    def prepare(self) -> None:
        """Every set's ``prepare()``; one error naming every missing set."""
        missing = []
        for dataset in self.datasets:
            try:
                dataset.prepare()
            except DatasetNotFoundError as err:
                missing.append(f"{getattr(dataset, 'name', type(dataset).__name__)}: {err}")
        if missing:
            raise DatasetNotFoundError("; ".join(missing))

    def _offsets(self) -> np.ndarray:
        return np.cumsum([0, *(len(d) for d in self.datasets)])

    def __len__(self) -> int:
        return int(self._offsets()[-1])

    def item(self, index: int, rng: np.random.Generator | None) -> dict:
        offsets = self._offsets()
        if not 0 <= index < offsets[-1]:
            raise IndexError(f"{self.name}: index {index} out of range for {offsets[-1]} items")
        which = int(np.searchsorted(offsets, index, side="right")) - 1
        return self.datasets[which].item(index - int(offsets[which]), rng)

    def __getitem__(self, index: int) -> dict:
        """Item ``index`` with a crop drawn from torch's generator (as ``HRFolderDataset.__getitem__``)."""
        return self.item(index, np.random.default_rng(int(torch.randint(0, 2**62, ()))))


def main(argv: list[str] | None = None) -> int:
    """``python -m gansr.data.extra_sets --root DIR``: Flickr2K and OST archives -> x4 training sub-images."""
    parser = argparse.ArgumentParser(prog="python -m gansr.data.extra_sets", description=main.__doc__)
    parser.add_argument("--root", required=True, type=Path, help="data root (paths.data_dir)")
    parser.add_argument("--sets", nargs="+", choices=sorted(EXTRA_SETS), default=sorted(EXTRA_SETS))
    parser.add_argument("--sha256", nargs="*", default=[], metavar="SET=HEX", help="check an archive's sha256")
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args(argv)
    digests = dict(item.split("=", 1) for item in args.sha256)
    failed = False
    for key in args.sets:
        try:
            out = prepare_extra_set(key, args.root, sha256=digests.get(key), scale=args.scale)
            print(f"{key}: sub-images in {out}")
        except DatasetDownloadError as err:
            print(f"{key}: error: {err}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
