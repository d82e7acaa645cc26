"""i. degradations: where the LR of a training batch is made, and what it costs.

* worker path (``degradation=bicubic_matlab``): one DataLoader worker reads an HR patch and its cached MATLAB-bicubic
  LR patch (``HRFolderDataset`` with flips), patches/s;
* device path (``bd``, ``dn``, ``realesrgan``): the worker reads the HR patch only (patches/s), then the degradation
  makes the LR on the device per batch (``DeviceDegradation.apply``): samples/s and ms per batch.

HR patch 128 (ESRGAN) and 256 (Real-ESRGAN's gt_size), on BSDS200 HR images (481x321) from ../shared/data.

    python benchmarks/degradations.py [--out results.json] [--device cuda] [--batch 16] [--repeats 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import SHARED, update_json

from gansr.cli import compose_config
from gansr.data.datasets import HRFolderDataset


def _degradations(scale: int) -> dict:
    from hydra.utils import instantiate

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("bd", "dn", "realesrgan"):
            out[name] = instantiate(compose_config([f"degradation={name}", f"scale={scale}"], tmp).data.degradation)
    return out


def _patches_per_s(dataset: HRFolderDataset, n: int) -> float:
    import numpy as np

    dataset.prepare()
    start = time.perf_counter()
    for i in range(n):
        dataset.item(i % len(dataset), np.random.default_rng(i))
    return n / (time.perf_counter() - start)


def degradation_costs(device: str = "cpu", batch: int = 16, repeats: int = 3, patches: tuple[int, ...] = (128, 256),
                      worker_items: int = 100) -> dict:
    folder = SHARED / "BSDS200" / "HR"
    if not folder.is_dir():
        return {"skipped": f"needs {folder}"}
    results: dict = {"device": device, "batch": batch}
    degradations = _degradations(4)
    with tempfile.TemporaryDirectory() as tmp:
        for patch in patches:
            entry: dict = {}
            worker = HRFolderDataset("BSDS200", folder, 4, patch_size=patch, augment=True,
                                     lr_cache_dir=Path(tmp) / "lr")  # LR made once here (not timed), then read
            entry["worker_bicubic_patches_per_s"] = _patches_per_s(worker, worker_items)
            hr_only = HRFolderDataset("BSDS200", folder, 4, patch_size=patch, augment=True)
            hr_only.use_hr_patches_only()
            entry["worker_hr_only_patches_per_s"] = _patches_per_s(hr_only, worker_items)
            hr = torch.rand(batch, 3, patch, patch, generator=torch.Generator().manual_seed(0)).to(device)
            positions = torch.arange(batch)
            for name, degradation in degradations.items():
                degradation.apply(hr, positions, 0, True)  # warm-up
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                for r in range(repeats):
                    degradation.apply(hr, positions + batch * (r + 1), 0, True)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                seconds = (time.perf_counter() - start) / repeats
                entry[name] = {"ms_per_batch": 1000 * seconds, "samples_per_s": batch / seconds}
            results[f"patch_{patch}"] = entry
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="JSON file to update under 'degradations'")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    results = degradation_costs(args.device, args.batch, args.repeats)
    print(results)
    if args.out:
        update_json(Path(args.out), "degradations", results)


if __name__ == "__main__":
    main()
