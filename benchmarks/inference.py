"""c. Set14 evaluation time, e. inference time per Urban100-size image, f. memory of a DIV2K-size tiled x4
up-scale (see ``benchmarks/run.py``)."""
from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import math
import multiprocessing
import resource
import time

import torch
from common import CUDA, DEVICE, SHARED, sync, timed

from gansr.archs.bicubic import BicubicUpsampler
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.data.benchmarks import benchmark_dataset
from gansr.data.image_io import read_image, to_tensor
from gansr.inference import GeneratorPath, tile_count, tiled_upscale
from gansr.metrics import build_metrics, quantize


def evaluation() -> dict:
    niqe_params = SHARED / "metrics" / "niqe" / "modelparameters.mat"
    if not (SHARED / "Set14" / "HR").is_dir() or not niqe_params.is_file():
        return {"skipped": f"needs {SHARED}/Set14/HR and {niqe_params}"}
    dataset = benchmark_dataset("Set14", SHARED, scale=4)  # LR images cached in the gansr cache
    start = time.perf_counter()
    dataset.prepare()  # LR images (MATLAB bicubic), cached after the first run
    prepare = time.perf_counter() - start
    names = ["psnr_y", "ssim_y", "niqe"]
    metrics = build_metrics(names, crop_border=4, niqe_params_path=niqe_params)
    upscale = BicubicUpsampler(scale=4)
    seconds = dict.fromkeys(["load", "sr"] + names, 0.0)
    for index in range(len(dataset)):
        t0 = time.perf_counter()
        item = dataset[index]
        t1 = time.perf_counter()
        sr = quantize(upscale(item["lr"][None]).clamp(0, 1))
        seconds["load"] += t1 - t0
        seconds["sr"] += time.perf_counter() - t1
        for name, metric in metrics.items():
            t0 = time.perf_counter()
            metric.update(sr, item["hr"][None])
            seconds[name] += time.perf_counter() - t0
    values = {name: float(metric.compute()) for name, metric in metrics.items()}
    return {"images": len(dataset), "lr_prepare_s": prepare, "total_s": sum(seconds.values()),
            **{f"{k}_s": v for k, v in seconds.items()}, "bicubic_values": values,
            "left_out": "lpips, ma (pretrained weights not available offline)"}


def receptive_radius(num_block: int, scale: int = 4) -> int:
    """RRDBNet's receptive-field radius in LR pixels (tests/test_inference.py)."""
    stages = int(math.log2(scale))
    return math.ceil(2 + 15 * num_block + sum(2.0**-i for i in range(1, stages + 1)) + 2 / scale)


def fs_srgan_path() -> GeneratorPath:
    """Fs-SRGAN's inference path at paper size: E (1 RRDB) + G' (16 RRDBs on E's 64 channels), docs/methods.md §1.5."""
    return GeneratorPath(RRDBNet(in_channels=64, num_block=16), SharedExtractor(num_block=1))


def inference() -> dict:
    folder = SHARED / "Urban100_subset" / "HR"
    if not folder.is_dir():
        return {"skipped": f"needs {folder}"}
    path = min(folder.iterdir())
    hr = to_tensor(read_image(path))
    lr = torch.nn.functional.interpolate(hr[None], scale_factor=0.25, mode="bicubic", antialias=True).clamp(0, 1).to(DEVICE)
    rows = {"image": path.name, "hr_size": list(hr.shape[-2:]), "lr_size": list(lr.shape[-2:])}
    nets = [("tiny", lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4), 64, receptive_radius(1), 3),
            ("paper", RRDBNet, 128, 16, 5 if CUDA else 1)]  # exact tiling would need overlap 349 (> the image): 16 = CLI default
    if CUDA:
        nets.append(("fs_srgan_paper", fs_srgan_path, 0, 0, 5))
    for name, build, tile, overlap, repeats in nets:
        torch.manual_seed(0)
        g = build().to(DEVICE).eval()
        tile = 0 if CUDA else tile  # the whole image fits on a GPU, as in the paper's timing
        with torch.no_grad():
            seconds = timed(functools.partial(tiled_upscale, g, lr, 4, tile=tile, overlap=overlap), repeats, warmup=1 if CUDA or name == "tiny" else 0)
        rows[name] = {"tile": tile, "overlap": overlap, "s_per_image": seconds}
    rows["reference"] = "FASRGAN paper, RTX 2080, Urban100: ESRGAN 0.3573 s/img, Fs-SRGAN 0.1377 s/img"
    return rows


class _EnoughTiles(Exception):
    pass


def _div2k_memory_child(tile: int, overlap: int, max_tiles: int | None) -> dict:
    """Runs in a fresh process: tiled x4 up-scale of a 2040x1356 LR image with the paper-size RRDBNet."""
    torch.manual_seed(0)
    g = RRDBNet().to(DEVICE).eval()
    lr = torch.rand(1, 3, 1356, 2040, device=DEVICE)
    total = tile_count(1356, 2040, tile)
    done, start = [0], time.perf_counter()

    def on_tile(n: int) -> None:
        done[0] += n
        if max_tiles is not None and done[0] >= max_tiles:
            raise _EnoughTiles

    with contextlib.suppress(_EnoughTiles):
        tiled_upscale(g, lr, 4, tile=tile, overlap=overlap, on_tile=on_tile)
    sync()
    seconds = time.perf_counter() - start
    out = {"lr_size": [1356, 2040], "tile": tile, "overlap": overlap, "tiles_run": done[0], "tiles_total": total,
           "s_per_tile": seconds / done[0], "projected_full_image_s": seconds / done[0] * total,
           "output_canvas_gib": 3 * 1356 * 2040 * 16 * 4 / 2**30,
           "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if CUDA:
        out["peak_cuda_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def div2k_memory(tile: int = 128, overlap: int = 16) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_div2k_memory_child, tile, overlap, None if CUDA else 2).result()
