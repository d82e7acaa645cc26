"""The seeded training stream (gansr.data.sampling), the decoded-image cache and the throughput figure."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gansr.data.datamodule import SRDataModule
from gansr.data.datasets import HRFolderDataset
from gansr.data.decoded_cache import _open_entry, decoded_file, read_decoded
from gansr.data.image_io import read_image, write_image
from gansr.data.sampling import (
    PositionSampler,
    SeededStream,
    crop_rng,
    epoch_permutation,
)
from gansr.data.throughput import folder_patches_per_second
from test_data_io import _other_host_writes_first


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    hr = tmp_path_factory.mktemp("stream") / "HR"
    rng = np.random.default_rng(1)
    for i in range(5):
        write_image(hr / f"img{i}.png", rng.integers(0, 256, (40 + 4 * i, 44, 3), dtype=np.uint8))
    return hr


def dataset(folder: Path, **kwargs) -> HRFolderDataset:
    return HRFolderDataset("toy", folder, 4, patch_size=16, augment=True, lr_cache_dir=folder.parent / "lr", **kwargs)


def batches(folder: Path, workers: int, start_iteration: int, iterations: int, batch: int = 2) -> list[torch.Tensor]:
    dm = SRDataModule(dataset(folder), batch_size=batch, num_workers=workers, seed=3)
    dm.prepare_data()
    sampler = PositionSampler(lambda: start_iteration * batch, iterations * batch)
    return [b["hr"] for b in dm.stream_loader(batch, sampler)]


def test_stream_order_is_a_pure_function_of_seed_and_position(folder):
    """Same batches with 0 or 2 workers; a loader started at iteration 3 reads the tail of the full run."""
    full = batches(folder, 0, 0, 7)  # 7 batches of 2 over 5 items: crosses two passes over the data
    assert len(full) == 7
    assert all(torch.equal(a, b) for a, b in zip(full, batches(folder, 2, 0, 7)))
    tail = batches(folder, 2, 3, 7)
    assert len(tail) == 4 and all(torch.equal(a, b) for a, b in zip(full[3:], tail))
    assert not torch.equal(full[0], batches(folder, 0, 1, 2)[0])  # another position, another sample


def test_each_pass_visits_every_item_once_in_a_seeded_order():
    stream = SeededStream(list(range(5)), seed=7)  # only index_at is used here
    first, second = [stream.index_at(p) for p in range(5)], [stream.index_at(p) for p in range(5, 10)]
    assert sorted(first) == sorted(second) == list(range(5)) and first != second
    assert np.array_equal(epoch_permutation(7, 1, 5), second)
    assert crop_rng(7, 4).integers(1 << 30) == crop_rng(7, 4).integers(1 << 30) != crop_rng(7, 5).integers(1 << 30)


def test_ddp_ranks_split_each_global_batch():
    """Rank r of W takes positions r, r+W, ...: the ranks' batches together are one process's global batch."""
    single = list(PositionSampler(lambda: 8, 16))
    ranks = [list(PositionSampler(lambda: 8, 16, rank=r, world=2)) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == single == list(range(8, 16))
    assert ranks[1][:2] == [9, 11] and len(PositionSampler(lambda: 0, 16, rank=1, world=2)) == 8
    with pytest.raises(TypeError):
        len(PositionSampler(lambda: 0, None))
    with pytest.raises(ValueError, match="rank 2 out of range"):
        PositionSampler(lambda: 0, 4, rank=2, world=2)


def test_decoded_cache_gives_the_same_patches_and_follows_file_changes(folder, tmp_path):
    plain, cached = dataset(folder), dataset(folder, decoded_cache_dir=tmp_path / "decoded")
    for position in range(6):
        a, b = plain.item(position % 5, crop_rng(0, position)), cached.item(position % 5, crop_rng(0, position))
        assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"])
    assert len(list((tmp_path / "decoded").glob("*.npy"))) == 10  # HR and LR of the 5 images
    image = folder.parent / "edit" / "HR" / "x.png"
    write_image(image, np.zeros((8, 8, 3), np.uint8))
    before = decoded_file(image, tmp_path / "decoded")
    write_image(image, np.full((8, 12, 3), 255, np.uint8))
    os.utime(image, ns=(1, 10**18))
    assert decoded_file(image, tmp_path / "decoded") != before  # an edited file gets a new entry


def test_throughput_figure_on_a_tiny_folder(folder, tmp_path):
    figures = folder_patches_per_second(folder, num_workers=0, batch_size=2, patch_size=16, batches=4, warmup=1,
                                        decoded_cache_dir=tmp_path / "decoded", lr_cache_dir=folder.parent / "lr")
    assert figures["patches_per_s"] > 0 and figures["batch_size"] == 2 and figures["batches"] == 4
    assert figures["decoded_cache"] and figures["main_cpu_ms_per_patch"] > 0


def test_decoded_cache_entry_written_by_two_hosts_at_once(folder, tmp_path, monkeypatch):
    """Two nodes fill one decoded cache on a shared file system with processes of the same PID: each writes its
    own temporary entry (before, node-a's rename failed: node-b had moved the shared temporary name away)."""
    image, cache = sorted(folder.glob("*.png"))[0], tmp_path / "decoded"
    _other_host_writes_first(monkeypatch, lambda: _open_entry(image, cache))
    np.testing.assert_array_equal(read_decoded(image, cache), read_image(image))
    assert [p.name for p in cache.iterdir()] == [decoded_file(image, cache).name]
