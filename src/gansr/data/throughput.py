"""How many training patches per second the data pipeline delivers (no model): the data-loading figure of
``make bench`` and of ``docs/data.md``.

    python -m gansr.data.throughput ../shared/data/BSDS200/HR --workers 2
    python -m gansr.data.throughput ../shared/data/BSDS200/HR --workers 2 --decoded-cache .cache/decoded

The target of issue 12: 25 iterations/s x 16 patches of 128 px = 400 patches/s per GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from gansr.data.datamodule import SRDataModule
from gansr.data.datasets import HRFolderDataset
from gansr.data.sampling import PositionSampler

__all__ = ["folder_patches_per_second", "loader_patches_per_second"]


def loader_patches_per_second(loader: Iterable[dict], batches: int, warmup: int = 3) -> dict[str, float]:
    """Times ``batches`` batches of ``loader`` after ``warmup`` batches (worker start-up, first decodes excluded).

    Returns ``{"patches_per_s", "batches_per_s", "seconds", "batches", "batch_size", "main_cpu_ms_per_patch"}``;
    the last is this process's CPU time per patch: with ``num_workers=0`` all the loading work, so
    ``400 * main_cpu_ms_per_patch / 1000`` is the number of busy CPU cores 400 patches/s need, whatever the
    machine's load.
    """
    iterator = iter(loader)
    for _ in range(warmup):
        next(iterator)
    start, cpu_start = time.perf_counter(), time.process_time()
    patches = 0
    for _ in range(batches):
        patches += next(iterator)["hr"].shape[0]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"patches_per_s": patches / seconds, "batches_per_s": batches / seconds, "seconds": seconds,
            "batches": batches, "batch_size": patches / batches, "main_cpu_ms_per_patch": 1000 * cpu / patches}


def folder_patches_per_second(
    hr_dir: str | os.PathLike,
    *,
    num_workers: int = 2,
    batch_size: int = 16,
    patch_size: int = 128,
    scale: int = 4,
    batches: int = 100,
    warmup: int = 3,
    decoded_cache_dir: str | os.PathLike | None = None,
    lr_cache_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Patches/s of the training loader of ``gansr-train data=folder`` on ``hr_dir`` (augmented random crops).

    ``lr_cache_dir``: where the bicubic LR images are made (default: a temporary folder, made before timing).
    ``decoded_cache_dir``: read the images from the uint8 cache (``HRFolderDataset``); the cache is filled during
    a first untimed pass. Returns :func:`loader_patches_per_second`'s dict plus the settings.
    """
    with tempfile.TemporaryDirectory() as tmp:
        dataset = HRFolderDataset("throughput", hr_dir, scale, patch_size=patch_size, augment=True,
                                  lr_cache_dir=lr_cache_dir or Path(tmp) / "lr", decoded_cache_dir=decoded_cache_dir)
        datamodule = SRDataModule(dataset, batch_size=batch_size, num_workers=num_workers, pin_memory=False)
        datamodule.prepare_data()
        if decoded_cache_dir is not None:
            dataset.fill_decoded_cache()
        loader = datamodule.stream_loader(batch_size, PositionSampler(lambda: 0, (batches + warmup) * batch_size))
        figures = loader_patches_per_second(loader, batches, warmup)
    return {**figures, "num_workers": num_workers, "patch_size": patch_size, "scale": scale,
            "images": len(dataset), "decoded_cache": decoded_cache_dir is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Patches/s of the gansr training data loader on a folder of HR images")
    parser.add_argument("hr_dir")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patch-size", type=int, default=128)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--decoded-cache", default=None, help="folder of the uint8 cache (default: PNG decoding)")
    parser.add_argument("--lr-cache", default=None, help="folder for the bicubic LR images (default: a temporary one)")
    args = parser.parse_args(argv)
    figures = folder_patches_per_second(args.hr_dir, num_workers=args.workers, batch_size=args.batch_size,
                                        patch_size=args.patch_size, scale=args.scale, batches=args.batches,
                                        decoded_cache_dir=args.decoded_cache, lr_cache_dir=args.lr_cache)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
