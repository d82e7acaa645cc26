"""Datasets, benchmarks, DIV2K sub-images, demo data, SRDataModule and the data/ Hydra configs."""
from __future__ import annotations

import os
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gansr.data.benchmarks import BENCHMARKS, benchmark_dataset
from gansr.data.datamodule import SRDataModule
from gansr.data.datasets import HRFolderDataset, make_lr
from gansr.data.demo_data import DEMO_HELDOUT, DEMO_TRAIN, demo_datamodule, demo_folders
from gansr.data.div2k import (
    DatasetDownloadError,
    SubImageDataset,
    download_div2k,
    extract_subimages,
    subimage_starts,
)
from gansr.data.image_io import DatasetNotFoundError, read_image
from gansr.data.transforms import mod_crop


def make_folder(folder: Path, sizes: list[tuple[int, int]], ext: str = ".png") -> Path:
    """Random RGB images ``img{i}`` of the given (H, W) sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i}{ext}")
    return folder


# ---------------------------------------------------------------------------- HRFolderDataset
def test_training_items_are_aligned_patches_with_cached_exact_lr(tmp_path):
    hr_dir = make_folder(tmp_path / "HR", [(40, 37), (35, 48)])
    ds = HRFolderDataset("toy", hr_dir, 4, patch_size=16, augment=True, lr_cache_dir=tmp_path / "lr", repeat=3)
    assert len(ds) == 6
    item = ds[4]
    assert item["lr"].shape == (3, 4, 4) and item["hr"].shape == (3, 16, 16)
    assert item["lr"].dtype == torch.float32 and item["name"] == "img0"
    assert 0 <= item["hr"].min() and item["hr"].max() <= 1
    for i, src in enumerate(sorted(hr_dir.iterdir())):
        cached = read_image(tmp_path / "lr" / f"img{i}x4.png")
        assert np.array_equal(cached, make_lr(mod_crop(read_image(src), 4), 4))


def test_validation_items_are_whole_mod_cropped_images(tmp_path):
    hr_dir = make_folder(tmp_path / "HR", [(41, 38)])
    item = HRFolderDataset("toy", hr_dir, 4, lr_cache_dir=tmp_path / "lr")[0]
    assert item["hr"].shape == (3, 40, 36) and item["lr"].shape == (3, 10, 9)
    hr = read_image(hr_dir / "img0.png")
    assert torch.equal(item["hr"], torch.from_numpy(hr[:40, :36].transpose(2, 0, 1).copy()).float() / 255)
    ds12 = HRFolderDataset("toy", hr_dir, 4, mod=12, lr_cache_dir=tmp_path / "lr12")
    assert ds12[0]["hr"].shape == (3, 36, 36) and ds12.lr_leaf == "X4_mod12"


def test_lr_goes_next_to_hr_when_writable_and_is_reused(tmp_path):
    hr_dir = make_folder(tmp_path / "Set" / "HR", [(16, 16)])
    ds = HRFolderDataset("toy", hr_dir, 4)
    ds.prepare()
    assert ds.lr_dir == tmp_path / "Set" / "LR_bicubic" / "X4"
    stamp = (ds.lr_dir / "img0x4.png").stat().st_mtime_ns
    again = HRFolderDataset("toy", hr_dir, 4, lr_cache_dir=tmp_path / "elsewhere")  # a complete sibling wins
    again.prepare()
    assert again.lr_dir == ds.lr_dir and (ds.lr_dir / "img0x4.png").stat().st_mtime_ns == stamp


def test_read_only_data_folder_is_never_written(tmp_path, monkeypatch):
    data = tmp_path / "ro"
    hr_dir = make_folder(data / "HR", [(16, 16)])
    monkeypatch.setenv("GANSR_CACHE", str(tmp_path / "cache"))
    os.chmod(data, 0o555)
    try:
        ds = HRFolderDataset("toy", hr_dir, 4)
        ds.prepare()
        assert not (data / "LR_bicubic").exists()
        assert ds.lr_dir.parent.parent == tmp_path / "cache" / "lr" and ds.lr_dir.parent.name.startswith("toy_")
    finally:
        os.chmod(data, 0o755)


def test_uses_shipped_set5_lr(shared_data):
    ds = benchmark_dataset("Set5", shared_data, scale=4)
    assert ds.lr_dir == shared_data / "Set5" / "LR_bicubic" / "X4"
    item = ds[ds.pairs.index(next(p for p in ds.pairs if p.name == "woman"))]
    assert item["lr"].shape == (3, 86, 57) and item["hr"].shape == (3, 344, 228)


def test_dataset_errors_are_clear(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="missing.*does not exist"):
        len(HRFolderDataset("toy", tmp_path / "missing", 4))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no images in"):
        HRFolderDataset("toy", tmp_path / "empty", 4).prepare()
    small = make_folder(tmp_path / "small", [(40, 40), (30, 60)])
    with pytest.raises(ValueError, match=r"1 image\(s\) smaller than the HR patch 32x32: .*img1\.png \(60x30\)"):
        HRFolderDataset("toy", small, 4, patch_size=32, lr_cache_dir=tmp_path / "lr").prepare()
    with pytest.raises(ValueError, match="multiple of scale"):
        HRFolderDataset("toy", small, 4, patch_size=30)
    corrupt = make_folder(tmp_path / "corrupt", [(16, 16)])
    (corrupt / "img0.png").write_bytes(b"broken")
    with pytest.raises(OSError, match=r"img0\.png.*[Rr]e-download"):
        HRFolderDataset("toy", corrupt, 4, lr_cache_dir=tmp_path / "lrc").prepare()


def test_a_decompression_bomb_in_a_training_folder_is_named(tmp_path):
    """Issue 19 item 7: a PNG whose header claims 100000x100000 pixels raised Pillow's DecompressionBombError with
    no file name. Now an ImageReadError (an OSError) naming the file, in one line, before anything is decoded."""
    import struct
    import zlib

    folder = make_folder(tmp_path / "HR", [(48, 48)])
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # 8-bit RGB, 100000^2: 30 GB decoded
    (folder / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
                                     + chunk(b"IEND", b""))
    with pytest.raises(OSError) as refused:
        HRFolderDataset("toy", folder, 4, patch_size=32, lr_cache_dir=tmp_path / "lr").prepare()
    message = str(refused.value)
    assert message.startswith(f"cannot read image {folder / 'bomb.png'}: DecompressionBombError: Image size "
                              "(10000000000 pixels) exceeds limit")
    assert "\n" not in message and not (tmp_path / "lr").exists()


def test_stale_lr_file_is_reported(tmp_path):
    hr_dir = make_folder(tmp_path / "HR", [(16, 16)])
    lr_dir = tmp_path / "lr"
    ds = HRFolderDataset("toy", hr_dir, 4, lr_cache_dir=lr_dir)
    ds.prepare()
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(lr_dir / "img0x4.png")
    with pytest.raises(ValueError, match="stale LR file"):
        ds[0]
    fresh = HRFolderDataset("toy", hr_dir, 4, lr_cache_dir=lr_dir)
    with pytest.warns(UserWarning, match="do not match their HR size"):
        fresh.prepare()
    assert fresh[0]["lr"].shape == (3, 4, 4)


def test_shipped_lr_of_other_sizes_is_not_used(tmp_path):
    hr_dir = make_folder(tmp_path / "Set" / "HR", [(18, 17)])
    shipped = tmp_path / "Set" / "LR_bicubic" / "X4"
    shipped.mkdir(parents=True)
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(shipped / "img0x4.png")  # ceil(17/4): not mod-cropped
    os.chmod(shipped, 0o555)
    try:
        ds = HRFolderDataset("toy", hr_dir, 4, lr_cache_dir=tmp_path / "cache")
        assert ds.lr_dir == tmp_path / "cache" and ds[0]["lr"].shape == (3, 4, 4)
    finally:
        os.chmod(shipped, 0o755)


def test_grayscale_and_rgba_sources_become_rgb_items(tmp_path):
    folder = tmp_path / "HR"
    folder.mkdir()
    Image.fromarray(np.full((16, 16), 100, np.uint8)).save(folder / "gray.png")
    Image.fromarray(np.full((16, 16, 4), 50, np.uint8)).save(folder / "rgba.png")
    ds = HRFolderDataset("toy", folder, 4, lr_cache_dir=tmp_path / "lr")
    with pytest.warns(UserWarning):
        items = [ds[0], ds[1]]
    assert all(it["hr"].shape == (3, 16, 16) and it["lr"].shape == (3, 4, 4) for it in items)


# ---------------------------------------------------------------------------- benchmarks
def test_benchmark_errors_list_layout_and_source(tmp_path):
    with pytest.raises(ValueError, match="Set5, Set14"):
        benchmark_dataset("Set6", tmp_path)
    ds = benchmark_dataset("Urban100", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"Urban100/HR.*<root>/Urban100/HR.*SelfExSR"):
        ds.prepare()
    with pytest.raises(DatasetNotFoundError, match="manga109.org"):
        benchmark_dataset("Manga109", tmp_path).prepare()
    with pytest.raises(DatasetNotFoundError, match="DIV2K_valid_HR.zip"):
        benchmark_dataset("DIV2K_val", tmp_path).prepare()
    assert set(BENCHMARKS) >= {"Set5", "Set14", "BSD100", "Urban100", "Manga109", "PIRM_val", "PIRM_test",
                               "PIRM_selfval", "DIV2K_val"}


def test_subset_folder_alias_is_named_after_the_folder(shared_data, tmp_path):
    ds = benchmark_dataset("Manga109", shared_data, folder="Manga109_subset", cache_dir=tmp_path)
    assert ds.name == "Manga109_subset" and ds.hr_dir == shared_data / "Manga109_subset" / "HR"
    assert ds.lr_cache_dir == tmp_path / "lr" / "Manga109_subset" / "X4"


# ---------------------------------------------------------------------------- DIV2K
def test_subimage_starts_follow_basicsr():
    assert subimage_starts(1356, 480, 240, 48) == [0, 240, 480, 720, 876]
    assert subimage_starts(500, 480, 240, 48) == [0]  # 20 px left over <= thresh
    assert subimage_starts(320, 480, 240, 48) == []


def test_extract_subimages_cuts_hr_and_the_whole_image_lr(shared_data, tmp_path):
    hr_dir = tmp_path / "HR_full"
    hr_dir.mkdir()
    src = min((shared_data / "BSDS200" / "HR").glob("*.png"))
    (hr_dir / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "sub"
    n = extract_subimages(hr_dir, out, crop=160, step=80, thresh=20, scale=4)
    hr = mod_crop(read_image(src), 4)
    ys, xs = subimage_starts(hr.shape[0], 160, 80, 20), subimage_starts(hr.shape[1], 160, 80, 20)
    assert n == len(ys) * len(xs) == len(list((out / "HR").iterdir()))
    lr = make_lr(hr, 4)
    last = f"{src.stem}_s{n:03d}"
    y, x = ys[-1], xs[-1]
    assert np.array_equal(read_image(out / "HR" / f"{last}.png"), hr[y : y + 160, x : x + 160])
    assert np.array_equal(read_image(out / "LR_bicubic" / "X4" / f"{last}x4.png"),
                          lr[y // 4 : y // 4 + 40, x // 4 : x // 4 + 40])
    assert extract_subimages(hr_dir, out, crop=160, step=80, thresh=20, scale=4) == n  # done: skipped
    ds = SubImageDataset("sub", out, 4, patch_size=64)
    item = ds[0]
    assert item["lr"].shape == (3, 16, 16) and item["hr"].shape == (3, 64, 64) and len(ds) == n
    (out / "LR_bicubic" / "X4" / f"{last}x4.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 LR sub-image\(s\) missing"):
        SubImageDataset("sub", out, 4, patch_size=64).prepare()


def test_extract_subimages_rejects_misaligned_steps_and_warns_on_small_images(tmp_path):
    hr_dir = make_folder(tmp_path / "HR", [(40, 40)])
    with pytest.raises(ValueError, match="multiples of scale"):
        extract_subimages(hr_dir, tmp_path / "o", crop=50, step=24, scale=4)
    with pytest.warns(UserWarning, match="smaller than 48px skipped: img0.png"):
        assert extract_subimages(hr_dir, tmp_path / "o", crop=48, step=24, scale=4) == 0


def test_download_offline_says_which_url_and_where(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DatasetDownloadError, match=r"DIV2K_train_HR\.zip.*put it at .*DIV2K"):
        download_div2k(tmp_path, splits=("train_HR",))


def test_download_uses_a_zip_placed_by_hand(tmp_path):
    (tmp_path / "DIV2K").mkdir()
    with zipfile.ZipFile(tmp_path / "DIV2K" / "DIV2K_valid_HR.zip", "w") as zf:
        for name in ("0801.png", "0802.png"):
            img = tmp_path / name
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
            zf.write(img, f"DIV2K_valid_HR/{name}")
    dirs = download_div2k(tmp_path, splits=("valid_HR",))
    assert dirs["valid_HR"] == tmp_path / "DIV2K_val" / "HR"
    assert sorted(p.name for p in dirs["valid_HR"].iterdir()) == ["0801.png", "0802.png"]
    assert benchmark_dataset("DIV2K_val", tmp_path, cache_dir=tmp_path / "c")[0]["hr"].shape == (3, 8, 8)


# ---------------------------------------------------------------------------- demo data
def test_demo_folders_split_skimage_photos(tmp_path):
    train_dir, heldout_dir = demo_folders(tmp_path)
    train, heldout = sorted(train_dir.glob("*.png")), sorted(heldout_dir.glob("*.png"))
    assert len(train) == len(DEMO_TRAIN) >= 5 and len(heldout) == len(DEMO_HELDOUT) >= 2
    assert not {p.name for p in train} & {p.name for p in heldout}
    assert all(Image.open(p).mode == "RGB" for p in train + heldout)
    assert demo_folders(tmp_path) == (train_dir, heldout_dir)


# ---------------------------------------------------------------------------- SRDataModule
def test_datamodule_batches_and_names(tmp_path):
    train = HRFolderDataset("tr", make_folder(tmp_path / "a" / "HR", [(32, 32), (40, 36), (36, 44)]), 4,
                            patch_size=16, augment=True, repeat=3)
    val = HRFolderDataset("va", make_folder(tmp_path / "b" / "HR", [(24, 20), (16, 28)]), 4)
    dm = SRDataModule(train, [val], batch_size=4, num_workers=0, scale=4, patch_size=16)
    dm.prepare_data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    batches = list(loader)
    assert len(batches) == 2  # without a trainer: one pass over the 9 items, batch 4, the incomplete batch dropped
    assert batches[0]["lr"].shape == (4, 3, 4, 4) and batches[0]["hr"].shape == (4, 3, 16, 16)
    assert len(batches[0]["name"]) == 4
    (val_loader,) = dm.val_dataloader()
    shapes = [(b["lr"].shape, b["hr"].shape) for b in val_loader]
    assert shapes == [((1, 3, 6, 5), (1, 3, 24, 20)), ((1, 3, 4, 7), (1, 3, 16, 28))]
    assert dm.val_names == ["va"] and dm.test_names == []


def test_datamodule_reports_every_missing_dataset_at_setup(tmp_path):
    dm = SRDataModule(HRFolderDataset("tr", tmp_path / "nope", 4, patch_size=16),
                      [benchmark_dataset("Set14", tmp_path)], num_workers=0)
    with pytest.raises(DatasetNotFoundError, match=r"(?s)2 dataset\(s\) not found.*tr: .*nope.*Set14: .*SelfExSR"):
        dm.setup("fit")


def test_datamodule_checks_scale_patch_and_global_batch(tmp_path):
    train = HRFolderDataset("tr", make_folder(tmp_path / "HR", [(32, 32)] * 4), 4, patch_size=16)
    with pytest.raises(ValueError, match="scale 4 but data.scale is 2"):
        SRDataModule(train, [], scale=2)
    with pytest.raises(ValueError, match="patch_size 16 differs"):
        SRDataModule(train, [], patch_size=32)

    class FakeTrainer:
        world_size = 2
        global_rank = 1
        max_steps = 3
        lightning_module = None

    dm = SRDataModule(train, [], batch_size=4, num_workers=0)
    dm.trainer = FakeTrainer()
    loader = dm.train_dataloader()
    assert loader.batch_size == 2
    assert list(loader.sampler) == [1, 3, 5, 7, 9, 11]  # rank 1 of 2: odd positions of 3 global batches of 4
    dm.batch_size = 3
    with pytest.raises(ValueError, match="not divisible by the 2 devices"):
        dm.train_dataloader()


# ---------------------------------------------------------------------------- Hydra configs
def _compose(overrides: list[str], tmp_path: Path):
    from gansr.cli import compose_config

    return compose_config(overrides, tmp_path / "out")


@pytest.mark.parametrize("name", ["demo", "folder", "div2k", "shared_smoke"])
def test_data_configs_instantiate(name, tmp_path, shared_data):
    from hydra.utils import instantiate

    required = ["data.train.hr_dir=/any/HR"] if name == "folder" else []
    cfg = _compose([f"data={name}", f"paths.cache_dir={tmp_path / 'cache'}", f"paths.data_dir={tmp_path / 'data'}",
                    f"paths.shared_data={shared_data}", "data.num_workers=0", *required], tmp_path)
    dm = instantiate(cfg.data)
    assert isinstance(dm, SRDataModule)
    assert dm.scale == cfg.scale == 4 and dm.patch_size == cfg.data.patch_size
    assert dm.train.patch_size == cfg.data.patch_size and dm.val_names
    if name == "shared_smoke":
        dm.setup("validate")  # Set5 with its shipped LR
        batch = next(iter(dm.val_dataloader()[0]))
        assert batch["hr"].shape[-2:] == (512, 512) and dm.train.hr_dir == shared_data / "T91" / "HR"
    if name == "demo":
        dm.setup("fit")
        batch = next(iter(dm.train_dataloader()))
        assert batch["hr"].shape == (4, 3, 32, 32) and batch["lr"].shape == (4, 3, 8, 8)


def test_demo_datamodule_factory(tmp_path):
    dm = demo_datamodule(tmp_path, scale=2, patch_size=24, batch_size=2, repeat=1, num_workers=0)
    assert dm.val_names == ["demo_heldout"] and len(dm.train) == len(DEMO_TRAIN)
