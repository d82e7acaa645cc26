"""gansr benchmarks (``make bench``): prints a table and writes ``benchmarks/results.json``.

    python benchmarks/run.py [--out benchmarks/results.json]

Sections (CPU sizes are cut so the run ends in a few minutes on 2 cores; the table says which):
  a. matmul peak: GFLOP/s of a square fp32 matmul (CPU) / bf16 matmul (CUDA).
  b. one ESRGAN training iteration (G step + D step, METHODS.md 2.4) through the Lightning ``ESRGAN`` module vs
     the same step as a bare PyTorch loop (same modules, same losses): iterations/s (median of per-iteration
     times), effective GFLOP/s (FLOPs of one bare G+D step counted with ``torch.utils.flop_counter``) and
     Lightning's overhead, measured directly and as an absolute cost per iteration (tiny model, many iterations)
     relative to the paper-size step. Tiny (nf 8, 1 RRDB, HR 32) and paper size (nf 64, 23 RRDBs, VGG128 D,
     HR 128, batch 16; batch 2 on CPU). On CUDA both run with the ``speed=gpu`` settings (bf16 autocast,
     channels_last, deferred NaN check). The perceptual loss uses a randomly initialised VGG19
     (``pretrained=False``): same cost, no download.
  c. evaluation time of Set14 (bicubic SR) with psnr_y, ssim_y, niqe, from ../shared/data.
     LPIPS and Ma need pretrained weights that are not available offline and are left out.
  d. data loading: patches/s of the DIV2K sub-image pipeline (``SubImageDataset``, HR patch 128) in one worker
     (main process), on sub-images cut from BSDS200.
  e. inference time per Urban100-size image: tiny and paper-size RRDBNet (tiled on CPU, whole image on CUDA)
     and, on CUDA, the paper-size Fs-SRGAN path E + G' (FASRGAN paper, RTX 2080: ESRGAN 0.3573 s/img,
     Fs-SRGAN 0.1377 s/img on Urban100).
  f. memory of a DIV2K-size (2040x1356 LR) x4 tiled up-scale with the paper-size RRDBNet, in a fresh process:
     peak RSS (CPU) or peak CUDA memory. On CPU only the first tiles are run (the full image takes about an hour
     on 2 cores); the output canvas is allocated before the first tile and every tile has the same size, so the
     peak is the whole run's; the full-image time is projected from the time per tile.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import json
import math
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from gansr import ESRGAN
from gansr.archs.bicubic import BicubicUpsampler
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.archs.vgg_discriminator import VGGStyleDiscriminator
from gansr.data.benchmarks import benchmark_dataset
from gansr.data.div2k import SubImageDataset, extract_subimages
from gansr.data.image_io import read_image, to_tensor
from gansr.inference import GeneratorPath, tile_count, tiled_upscale
from gansr.losses import PerceptualLoss, PixelLoss, RelativisticAverageGAN
from gansr.metrics import build_metrics, quantize
from gansr.training.speed import apply_speed_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GANSR_SHARED_DATA", ROOT.parent / "shared" / "data"))
CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def timed(fn, repeats: int, warmup: int = 1) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


# ---------------------------------------------------------------------------------------------- a. matmul
def matmul_peak() -> dict:
    n, dtype, repeats = (8192, torch.bfloat16, 20) if CUDA else (1024, torch.float32, 10)
    a, b = torch.randn(n, n, device=DEVICE, dtype=dtype), torch.randn(n, n, device=DEVICE, dtype=dtype)
    seconds = timed(lambda: a @ b, repeats, warmup=2)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "gflops": 2 * n**3 / seconds / 1e9}


# ---------------------------------------------------------------------------------------------- b. training
class RandomPairs(Dataset):
    """Random LR/HR pairs (HR ``patch``, LR ``patch/4``), generated once."""

    def __init__(self, n: int, patch: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.hr = torch.rand(n, 3, patch, patch, generator=g)
        self.lr = torch.nn.functional.avg_pool2d(self.hr, 4)

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> dict:
        return {"lr": self.lr[i], "hr": self.hr[i], "name": str(i)}


SIZES = {
    "tiny": {"g": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4}, "d_feat": 4, "patch": 32, "batch": 4, "warmup": 3, "iters": 30},
    "paper": {"g": {}, "d_feat": 64, "patch": 128, "batch": 16 if CUDA else 2, "warmup": 3 if CUDA else 1, "iters": 20 if CUDA else 2},
}
#: conf/speed/gpu.yaml on CUDA, conf/speed/cpu.yaml on CPU (the settings gansr-train applies)
SPEED = {"channels_last": True, "finite_check_interval": 100} if CUDA else {"channels_last": False, "finite_check_interval": 1}


def build_esrgan(size: str) -> ESRGAN:
    """ESRGAN's parts (METHODS.md 2.4): L1 1e-2, VGG19 conv5_4 (random init), RaGAN 5e-3, Adam 1e-4 (0.9, 0.99)."""
    spec = SIZES[size]
    torch.manual_seed(0)
    adam = functools.partial(torch.optim.Adam, lr=1e-4, betas=(0.9, 0.99))
    module = ESRGAN(
        RRDBNet(**spec["g"]),
        VGGStyleDiscriminator(num_feat=spec["d_feat"], input_size=spec["patch"]),
        objective=RelativisticAverageGAN(),
        optimizer_g=adam,
        optimizer_d=adam,
        pixel_loss=PixelLoss(1e-2),
        perceptual_loss=PerceptualLoss(1.0, pretrained=False),
        adversarial_weight=5e-3,
    )
    apply_speed_settings(module, SPEED)
    return module


class IterationTimer(pl.Callback):
    """Wall time of each training batch (G step + D step)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        sync()
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        sync()
        self.seconds.append(time.perf_counter() - self._start)


def lightning_seconds(size: str) -> float:
    """Median seconds of one Lightning training batch (after warm-up)."""
    spec = SIZES[size]
    module, timer = build_esrgan(size), IterationTimer()
    steps = spec["warmup"] + spec["iters"]
    trainer = pl.Trainer(accelerator="gpu" if CUDA else "cpu", devices=1, max_steps=steps * module.optimizer_steps_per_iteration,
                         precision="bf16-mixed" if CUDA else "32-true", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, DataLoader(RandomPairs(steps * spec["batch"], spec["patch"]), batch_size=spec["batch"]))
    return statistics.median(timer.seconds[spec["warmup"] :])


def bare_step(module: ESRGAN, opt_g, opt_d, lr: torch.Tensor, hr: torch.Tensor) -> None:
    """The ESRGAN iteration without Lightning: G step with D frozen, then D step on SR.detach()
    (bf16 autocast on CUDA, as ``trainer.precision=bf16-mixed``)."""
    g, d, objective = module.generator, module.discriminator, module.objective
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if CUDA else contextlib.nullcontext()
    d.requires_grad_(False)
    with autocast:
        sr = g(lr)
        real = d(hr).detach()
        loss_g = module.pixel_loss(sr, hr) + module.perceptual_loss(sr, hr) + module.adversarial_weight * objective.generator_loss(real, d(sr))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    d.requires_grad_(True)
    with autocast:
        loss_d = objective.discriminator_loss(d(hr), d(sr.detach()))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()


def bare_seconds_and_flops(size: str) -> tuple[float, int]:
    spec = SIZES[size]
    module = build_esrgan(size).to(DEVICE).train()
    opt_g = torch.optim.Adam(module.generator.parameters(), lr=1e-4, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(module.discriminator.parameters(), lr=1e-4, betas=(0.9, 0.99))
    data = RandomPairs(spec["batch"], spec["patch"])
    memory_format = torch.channels_last if module.channels_last else torch.contiguous_format
    lr, hr = (x.to(DEVICE).contiguous(memory_format=memory_format) for x in (data.lr, data.hr))
    step = functools.partial(bare_step, module, opt_g, opt_d, lr, hr)
    with FlopCounterMode(display=False) as counter:
        step()
    seconds = [timed(step, 1, warmup=1 if i == 0 and spec["warmup"] > 1 else 0) for i in range(spec["iters"])]
    return statistics.median(seconds), counter.get_total_flops()


def training() -> dict:
    """Both sizes; Lightning's absolute cost per iteration comes from the tiny model (many iterations, little
    compute) and is also expressed relative to the paper-size bare step."""
    out = {}
    for size, spec in SIZES.items():
        bare, flops = bare_seconds_and_flops(size)
        lightning = lightning_seconds(size)
        out[size] = {
            "batch": spec["batch"], "hr_patch": spec["patch"], "timed_iterations": spec["iters"], "gflop_per_iteration": flops / 1e9,
            "lightning_s": lightning, "bare_s": bare, "lightning_it_s": 1 / lightning, "bare_it_s": 1 / bare,
            "lightning_gflops": flops / lightning / 1e9, "bare_gflops": flops / bare / 1e9,
            "lightning_overhead_pct": 100 * (lightning / bare - 1),
        }
    overhead_s = out["tiny"]["lightning_s"] - out["tiny"]["bare_s"]
    out["lightning_overhead_ms_per_iteration"] = 1000 * overhead_s
    out["paper"]["overhead_from_tiny_pct"] = 100 * overhead_s / out["paper"]["bare_s"]
    return out


# ---------------------------------------------------------------------------------------------- c. evaluation
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


# ---------------------------------------------------------------------------------------------- d. data loading
def data_loading() -> dict:
    """The DIV2K training pipeline (``SubImageDataset``: sub-image PNGs + their LR cut from the whole image's
    MATLAB bicubic LR, random aligned 128 px crop, flips) on sub-images of BSDS200 (DIV2K is not shipped):
    240 px crops (BSDS200 images are 481x321, too small for DIV2K's 480), step 120, thresh 48."""
    folder = SHARED / "BSDS200" / "HR"
    if not folder.is_dir():
        return {"skipped": f"needs {folder}"}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        count = extract_subimages(folder, tmp, crop=240, step=120, thresh=48, scale=4)
        extract = time.perf_counter() - start
        dataset = SubImageDataset("BSDS200_sub", tmp, scale=4, patch_size=128, augment=True)
        dataset.prepare()
        n = min(len(dataset), 200)
        seconds = timed(lambda: [dataset[i] for i in range(n)], 1, warmup=0)
    return {"sub_images": count, "extract_s": extract, "patches_timed": n, "patches_per_s_per_worker": n / seconds}


# ---------------------------------------------------------------------------------------------- e. inference
def receptive_radius(num_block: int, scale: int = 4) -> int:
    """RRDBNet's receptive-field radius in LR pixels (tests/test_inference.py)."""
    stages = int(math.log2(scale))
    return math.ceil(2 + 15 * num_block + sum(2.0**-i for i in range(1, stages + 1)) + 2 / scale)


def fs_srgan_path() -> GeneratorPath:
    """Fs-SRGAN's inference path at paper size: E (1 RRDB) + G' (16 RRDBs on E's 64 channels), METHODS.md 1.5."""
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


# ---------------------------------------------------------------------------------------------- f. DIV2K-size memory
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


# ---------------------------------------------------------------------------------------------- report
def device_name() -> str:
    if CUDA:
        return f"cuda: {torch.cuda.get_device_name()}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def table(results: dict) -> str:
    lines = [f"command: {results['command']}", f"device: {results['device']}  (torch {torch.__version__})", ""]
    mm = results["matmul"]
    lines.append(f"a. matmul peak ({mm['dtype']}, n={mm['n']}): {mm['gflops']:.1f} GFLOP/s")
    lines.append("b. ESRGAN training iteration (G+D step; VGG19 perceptual loss random-init, pretrained=False)")
    lines.append("   | size  | batch | HR  | GFLOP/it | Lightning it/s | bare it/s | Lightning GFLOP/s | bare GFLOP/s | overhead |")
    lines.append("   |-------|-------|-----|----------|----------------|-----------|-------------------|--------------|----------|")
    for size in SIZES:
        r = results["training"][size]
        lines.append(f"   | {size:5s} | {r['batch']:5d} | {r['hr_patch']:3d} | {r['gflop_per_iteration']:8.2f} | {r['lightning_it_s']:14.3f} | "
                     f"{r['bare_it_s']:9.3f} | {r['lightning_gflops']:17.1f} | {r['bare_gflops']:12.1f} | {r['lightning_overhead_pct']:7.1f}% |")
    tr = results["training"]
    lines.append(f"   Lightning's cost per iteration (tiny, median of {tr['tiny']['timed_iterations']}): "
                 f"{tr['lightning_overhead_ms_per_iteration']:.1f} ms = {tr['paper']['overhead_from_tiny_pct']:.2f}% of the paper-size bare step")
    if not CUDA:
        lines.append("   (CPU: paper size at batch 2 instead of 16, 2 timed iterations: its direct overhead figure is noise-dominated)")
    ev = results["evaluation"]
    if "skipped" in ev:
        lines.append(f"c. Set14 evaluation: skipped ({ev['skipped']})")
    else:
        per = ", ".join(f"{k} {ev[k + '_s']:.2f} s" for k in ("load", "sr", "psnr_y", "ssim_y", "niqe"))
        lines.append(f"c. Set14 evaluation ({ev['images']} images, bicubic SR): {ev['total_s']:.2f} s ({per}); {ev['left_out']}")
    dl = results["data_loading"]
    if "skipped" in dl:
        lines.append(f"d. data loading: skipped ({dl['skipped']})")
    else:
        lines.append(f"d. SubImageDataset (DIV2K pipeline) on {dl['sub_images']} BSDS200 sub-images, patch 128: "
                     f"{dl['patches_per_s_per_worker']:.1f} patches/s per worker ({dl['patches_timed']} patches; "
                     f"sub-image extraction {dl['extract_s']:.1f} s)")
    inf = results["inference"]
    if "skipped" in inf:
        lines.append(f"e. inference: skipped ({inf['skipped']})")
    else:
        lines.append(f"e. inference, {inf['image']} (LR {inf['lr_size'][0]}x{inf['lr_size'][1]} -> HR {inf['hr_size'][0]}x{inf['hr_size'][1]}), tiled:")
        for name in ("tiny", "paper", "fs_srgan_paper"):
            if name in inf:
                r = inf[name]
                how = f"tile {r['tile']}, overlap {r['overlap']}" if r["tile"] else "whole image"
                lines.append(f"   {name:14s}: {r['s_per_image']:.3f} s/img ({how})")
        lines.append(f"   reference: {inf['reference']}")
    mem = results["div2k_memory"]
    lines.append(f"f. DIV2K-size x4 (LR {mem['lr_size'][1]}x{mem['lr_size'][0]}), paper RRDBNet, tile {mem['tile']} overlap {mem['overlap']}: "
                 f"peak RSS {mem['peak_rss_gib']:.2f} GiB" + (f", peak CUDA {mem['peak_cuda_gib']:.2f} GiB" if "peak_cuda_gib" in mem else "")
                 + f" (output canvas {mem['output_canvas_gib']:.2f} GiB); {mem['tiles_run']}/{mem['tiles_total']} tiles run, "
                 f"{mem['s_per_tile']:.1f} s/tile, full image {mem['projected_full_image_s'] / 60:.1f} min"
                 + (" (projected)" if mem["tiles_run"] < mem["tiles_total"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args(argv)
    results = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "device": device_name()}
    print(f"command: {results['command']}\ndevice: {results['device']}", flush=True)
    started = time.perf_counter()
    results["matmul"] = matmul_peak()
    results["training"] = training()
    results["evaluation"] = evaluation()
    results["data_loading"] = data_loading()
    results["inference"] = inference()
    results["div2k_memory"] = div2k_memory()
    results["total_s"] = time.perf_counter() - started
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"total {results['total_s']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
