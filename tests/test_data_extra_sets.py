"""Flickr2K / OST preparation and the DF2K+OST training data (gansr.data.extra_sets; issue 20 item 1), offline on
tiny fake archives: a ``file://`` URL stands for the download."""
from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from gansr.cli import compose_config
from gansr.data.div2k import DatasetDownloadError, extract_subimages
from gansr.data.extra_sets import EXTRA_SETS, ConcatTrainSet, prepare_extra_set, unpack_images

SUB = {"crop": 32, "step": 16, "thresh": 0}  # tiny sub-images (the sets use 480 / 240 / 48)


def png_bytes(seed: int, size: int = 48) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def fake_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("Flickr2K/Flickr2K_HR/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    return path


def test_flickr2k_download_checksum_unpack_and_subimages(tmp_path):
    tar = fake_tar(tmp_path / "Flickr2K.tar", {"Flickr2K/Flickr2K_HR/000001.png": png_bytes(1),
                                               "Flickr2K/Flickr2K_HR/000002.png": png_bytes(2),
                                               "Flickr2K/readme.txt": b"not an image"})
    digest = hashlib.sha256(tar.read_bytes()).hexdigest()
    root = tmp_path / "data"
    with pytest.raises(DatasetDownloadError, match="does not match sha256"):
        prepare_extra_set("flickr2k", root, url=tar.as_uri(), sha256="0" * 64, **SUB)
    assert not any(EXTRA_SETS["flickr2k"].hr_dir(root).glob("*.png"))  # nothing unpacked from a bad archive
    (root / "Flickr2K" / "Flickr2K.tar").unlink()
    out = prepare_extra_set("flickr2k", root, url=tar.as_uri(), sha256=digest, **SUB)
    assert sorted(p.name for p in EXTRA_SETS["flickr2k"].hr_dir(root).iterdir()) == ["000001.png", "000002.png"]
    assert len(list((out / "HR").glob("*.png"))) == 2 * 4 and len(list((out / "LR_bicubic" / "X4").glob("*.png"))) == 8
    assert out == root / "Flickr2K" / "Flickr2K_HR_sub"


def test_ost_has_no_direct_download_and_unpacks_a_placed_zip(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DatasetDownloadError, match="no direct download.*OutdoorSceneTrain_v2.zip"):
        prepare_extra_set("ost", root, **SUB)
    archive = root / "OST" / "OutdoorSceneTrain_v2.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("OutdoorSceneTrain_v2/animal/OST_001.png", png_bytes(3))
        zf.writestr("OutdoorSceneTrain_v2/building/OST_001.png", png_bytes(4))  # same name, another category
    out = prepare_extra_set("ost", root, **SUB)
    assert sorted(p.name for p in EXTRA_SETS["ost"].hr_dir(root).iterdir()) == ["OST_001.png", "building_OST_001.png"]
    assert len(list((out / "HR").glob("*.png"))) == 8


def test_unpack_refuses_a_broken_archive(tmp_path):
    bad = tmp_path / "x.tar"
    bad.write_bytes(b"not an archive at all" * 10)
    with pytest.raises(DatasetDownloadError, match="not a readable archive"):
        unpack_images(bad, tmp_path / "out")


def test_df2k_ost_is_one_override(tmp_path):
    """``data=df2k_ost`` trains on DIV2K + Flickr2K + OST sub-images as one stream of items."""
    root = tmp_path / "data"
    for i, folder in enumerate(["DIV2K/DIV2K_train_HR", "Flickr2K/Flickr2K_HR", "OST/OST_HR"]):
        (root / folder).mkdir(parents=True)
        (root / folder / f"img{i}.png").write_bytes(png_bytes(10 + i))
    extract_subimages(root / "DIV2K/DIV2K_train_HR", root / "DIV2K/DIV2K_train_HR_sub", **SUB)
    prepare_extra_set("flickr2k", root, **SUB)  # images already there: nothing fetched
    prepare_extra_set("ost", root, **SUB)
    cfg = compose_config(["experiment=esrgan", "data=df2k_ost", f"paths.data_dir={root}", "data.patch_size=16"],
                         tmp_path / "run")
    train = instantiate(cfg.data.train)
    assert isinstance(train, ConcatTrainSet) and [d.name for d in train.datasets] == ["DIV2K", "Flickr2K", "OST"]
    train.prepare()
    assert len(train) == 12
    rng = np.random.default_rng(0)
    items = [train.item(i, rng) for i in (0, 4, 11)]  # one from each set
    assert all(it["hr"].shape == (3, 16, 16) and it["lr"].shape == (3, 4, 4) for it in items)
    with pytest.raises(IndexError):
        train.item(12, rng)
