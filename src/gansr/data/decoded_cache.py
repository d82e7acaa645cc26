"""Decode once, crop many times: images kept as uint8 ``.npy`` files and read memory-mapped.

A PNG of a training image is decoded for every patch cut from it; with a small folder or few CPU workers that
decoding, not the GPU, sets the pace (``docs/data.md``). With ``data.train.decoded_cache_dir`` set, the first read
of an image writes its decoded ``(H,W,3)`` uint8 array to ``<cache>/<stem>_<key>.npy`` and every later read copies
it from there (from the OS page cache once it is warm: about 0.1 ms for a 480x320 image instead of milliseconds of
PNG decoding). ``<key>`` hashes the file's
resolved path, size and modification time, so an edited image gets a new entry (old entries are left behind:
delete the folder to reclaim the space). Files are written under a temporary name and renamed, so concurrent
DataLoader workers and interrupted runs never leave a partial entry.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from gansr.data.image_io import read_image
from gansr.utils.atomic import atomic_path

__all__ = ["decoded_file", "read_decoded"]


def decoded_file(path: Path, cache_dir: Path) -> Path:
    """The cache entry of image ``path``: ``<cache_dir>/<stem>_<16 hex of sha1(path|size|mtime_ns)>.npy``."""
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir / f"{path.stem}_{key}.npy"


def _open_entry(path: Path, cache_dir: Path) -> tuple[Path, int, tuple[int, ...]]:
    """``(entry, data offset, shape)`` of ``path``'s cache entry, decoding the image first when it has none."""
    entry = decoded_file(path, cache_dir)
    for attempt in range(2):
        try:
            with entry.open("rb") as file:
                version = np.lib.format.read_magic(file)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran_order, dtype = read_header(file)
                if dtype == np.uint8 and len(shape) == 3 and not fortran_order:
                    return entry, file.tell(), shape
        except (FileNotFoundError, ValueError, OSError):  # missing, or not a valid .npy: decode again
            pass
        if attempt == 0:
            image = read_image(path)
            entry.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(entry) as tmp:  # unique across processes and hosts sharing the cache
                np.save(tmp, image)
    raise OSError(f"decoded cache entry {entry} of {path} cannot be read back; delete {cache_dir}")


#: per process: image path -> (entry, data offset, shape); the key is computed (stat, hash) once per image
_ENTRIES: dict[tuple[Path, Path], tuple[Path, int, tuple[int, ...]]] = {}


def read_decoded(path: str | os.PathLike, cache_dir: str | os.PathLike) -> np.ndarray:
    """``(H,W,3)`` uint8 of image ``path``, read from its cache entry (decoded and cached on the first call).

    The entry is read whole (``np.fromfile``: a copy from the page cache, faster than mapping a file per item).

    Raises:
        ImageReadError: the image itself cannot be read (as :func:`gansr.data.image_io.read_image`).
    """
    key = (Path(path), Path(cache_dir))
    if key not in _ENTRIES:
        _ENTRIES[key] = _open_entry(*key)
    entry, offset, shape = _ENTRIES[key]
    return np.fromfile(entry, dtype=np.uint8, offset=offset).reshape(shape)
