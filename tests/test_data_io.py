"""Image reading/writing, folder listing and the pure transforms (mod_crop, paired_random_crop, augment)."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gansr.data.image_io import (
    DatasetNotFoundError,
    ImageReadError,
    list_images,
    read_image,
    to_tensor,
    to_uint8,
    write_image,
)
from gansr.data.transforms import augment, mod_crop, paired_random_crop, random_augment_flags


def png16_rgb(arr: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------- read / write
def test_write_read_roundtrip_png_and_tensor(tmp_path):
    arr = rgb(9, 7)
    path = write_image(tmp_path / "sub" / "a.png", arr)
    back = read_image(path)
    assert back.dtype == np.uint8 and np.array_equal(back, arr)
    assert back.flags.writeable
    t = to_tensor(arr)
    assert t.shape == (3, 9, 7) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(to_uint8(t), arr)
    write_image(tmp_path / "b.png", t)
    assert np.array_equal(read_image(tmp_path / "b.png"), arr)
    assert not list(tmp_path.glob("**/.*tmp*"))  # no temporary files left behind


def test_to_uint8_clamps_and_rounds():
    t = torch.tensor([-0.5, 0.5 / 255, 1.49 / 255, 2.0]).view(1, 1, 4).expand(3, 1, 4)
    assert to_uint8(t)[0, :, 0].tolist() == [0, 0, 1, 255]


@pytest.mark.parametrize("mode, expected", [("L", "grayscale"), ("RGBA", "alpha"), ("P", "palette"),
                                            ("LA", "alpha")])
def test_non_rgb_files_warn_and_become_rgb(tmp_path, mode, expected):
    base = Image.fromarray(rgb(6, 5))
    img = base.convert(mode) if mode != "RGBA" else base.convert("RGBA")
    if mode == "RGBA":
        img.putalpha(0)  # fully transparent: the colours must survive (alpha dropped, not composited)
    path = tmp_path / f"x_{mode}.png"
    img.save(path)
    with pytest.warns(UserWarning, match=rf"x_{mode}\.png.*{expected}"):
        arr = read_image(path)
    assert arr.shape == (6, 5, 3) and arr.dtype == np.uint8
    if mode == "RGBA":
        assert np.array_equal(arr, np.array(base))
    if mode in ("L", "LA"):
        assert np.array_equal(arr[..., 0], arr[..., 2])


def test_16bit_files_warn_and_become_8bit(tmp_path):
    grey = (np.arange(20).reshape(4, 5) * 3000).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with pytest.warns(UserWarning, match=r"g16\.png.*16-bit"):
        arr = read_image(tmp_path / "g16.png")
    assert np.array_equal(arr[..., 1], np.rint(grey / 257).astype(np.uint8))
    (tmp_path / "c16.png").write_bytes(png16_rgb((np.arange(60).reshape(4, 5, 3) * 1000).astype(np.uint16)))
    with pytest.warns(UserWarning, match=r"c16\.png.*16-bit"):
        arr = read_image(tmp_path / "c16.png")
    assert arr.shape == (4, 5, 3) and arr[-1, -1, -1] == 59000 >> 8


def test_truncated_corrupt_and_missing_files_raise_image_read_error(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(rgb(64, 64)).save(good)
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:300])
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    for name in ("trunc.png", "junk.png", "missing.png"):
        with pytest.raises(ImageReadError, match=rf"{name}.*[Rr]e-download.*remove") as info:
            read_image(tmp_path / name)
        assert info.value.path == tmp_path / name


def test_list_images_filters_sorts_and_explains_missing_data(tmp_path):
    for name in ("b.png", "a.JPG", "c.bmp", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.bmp"]
    with pytest.raises(DatasetNotFoundError, match=r"nowhere.*does not exist.*get it here"):
        list_images(tmp_path / "nowhere", hint="get it here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no images in .*empty"):
        list_images(tmp_path / "empty")


# ---------------------------------------------------------------------------- transforms
def test_mod_crop():
    img = rgb(10, 13)
    out = mod_crop(img, 4)
    assert out.shape == (8, 12, 3) and np.array_equal(out, img[:8, :12])
    assert mod_crop(img[..., 0], 5).shape == (10, 10)


def _nearest_pair(h: int, w: int, scale: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An LR image and its nearest-neighbour HR, so that hr[s*y + k, s*x + l] == lr[y, x] for every k, l < s."""
    lr = rgb(h, w, seed)
    return lr, np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


def _corresponds(lr: np.ndarray, hr: np.ndarray, scale: int) -> bool:
    return np.array_equal(hr[::scale, ::scale], lr) and np.array_equal(hr[scale - 1 :: scale, scale - 1 :: scale], lr)


def test_paired_random_crop_keeps_lr_and_hr_aligned():
    lr, hr = _nearest_pair(13, 11, 4)
    rng = np.random.default_rng(0)
    corners = set()
    for _ in range(30):
        lr_p, hr_p = paired_random_crop(lr, hr, 5, 4, rng)
        assert lr_p.shape == (5, 5, 3) and hr_p.shape == (20, 20, 3)
        assert _corresponds(lr_p, hr_p, 4)
        corners.add(hr_p.tobytes())
    assert len(corners) > 5  # the crop position is random


def test_paired_random_crop_errors_name_the_image():
    lr, hr = _nearest_pair(6, 8, 4)
    with pytest.raises(ValueError, match=r"cat\.png.*32x24.*smaller than the HR patch 28x28"):
        paired_random_crop(lr, hr, 7, 4, np.random.default_rng(0), name="cat.png")
    with pytest.raises(ValueError, match="not 4x the LR size"):
        paired_random_crop(lr, hr[:-1], 2, 4, np.random.default_rng(0))


def test_augment_gives_8_aligned_dihedral_variants():
    lr, hr = _nearest_pair(5, 7, 2)
    variants = set()
    for flags in np.ndindex(2, 2, 2):
        a, b = augment(lr, hr, *map(bool, flags))
        assert _corresponds(a, b, 2)
        assert a.flags.c_contiguous and b.flags.c_contiguous
        variants.add(a.tobytes() + bytes(a.shape[:2]))
    assert len(variants) == 8
    a, _ = augment(lr, hr, hflip=False, vflip=False, transpose=True)
    assert a.shape == (7, 5, 3) and np.array_equal(a, lr.transpose(1, 0, 2))


def test_random_augment_flags_cover_all_8_combinations():
    rng = np.random.default_rng(0)
    draws = [random_augment_flags(rng) for _ in range(400)]
    assert len(set(draws)) == 8
    assert 0.4 < np.mean([d[0] for d in draws]) < 0.6


def test_set14_grayscale_file_is_read_as_rgb(shared_data):
    with pytest.warns(UserWarning, match=r"bridge\.png.*grayscale"):
        arr = read_image(Path(shared_data) / "Set14" / "HR" / "bridge.png")
    assert arr.ndim == 3 and arr.shape[2] == 3


def _other_host_writes_first(monkeypatch, write_as_other_host) -> None:
    """Two nodes of a multi-node job, whose processes happen to have the same PID, write the same file of a cache
    on a shared file system: this process ("node-a") has written its temporary file when the other ("node-b")
    writes and renames its own, then this process renames. ``os.replace`` is where the other host cuts in."""
    import socket

    monkeypatch.setattr(os, "getpid", lambda: 4242)
    monkeypatch.setattr(socket, "gethostname", lambda: "node-a")
    replace = os.replace
    cut_in = []

    def replace_after_the_other_host(src, dst):
        if not cut_in:
            cut_in.append(src)
            with monkeypatch.context() as other:
                other.setattr(socket, "gethostname", lambda: "node-b")
                write_as_other_host()
        replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_after_the_other_host)


def test_lr_cache_file_written_by_two_hosts_at_once(tmp_path, monkeypatch):
    """The LR cache (``write_image``): before, the temporary name held only the PID, so node-b renamed node-a's
    temporary file (the same name) away and node-a's rename failed (FileNotFoundError)."""
    rng = np.random.default_rng(0)
    mine, theirs = (rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(2))
    target = tmp_path / "lr" / "img0x4.png"
    _other_host_writes_first(monkeypatch, lambda: write_image(target, theirs))
    write_image(target, mine)
    np.testing.assert_array_equal(read_image(target), mine)  # the last rename wins, whole
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left
