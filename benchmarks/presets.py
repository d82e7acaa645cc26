"""g. Paper-preset training iterations as ``gansr-train`` builds them (issue 12 items 2, 3, 5, 6; CUDA figures).

    python benchmarks/presets.py --out gpu_check.json [--presets esrgan fasrgan] [--settings "eager bf16"] [--tiny]

For each preset (the real ``conf/experiment`` composition: its G, D, E, losses, batch and patch size; the VGG19
randomly initialised, ``loss.perceptual.pretrained=false``: same cost, no download) and each setting:

=============  =========================================================================================
setting        precision and speed settings
=============  =========================================================================================
eager fp32     fp32, ``float32_matmul_precision=highest`` (no TF32 in matmuls), NCHW
eager tf32     fp32 with TF32 matmuls (``high``), channels_last
eager bf16     bf16 autocast over the step (``trainer.precision=bf16-mixed``), channels_last (``speed=gpu``)
compiled bf16  eager bf16 + ``speed.compile`` (G, D, E wrappers and the frozen VGG, inductor)
compiled bf16  compiled bf16 with ``compile_mode=reduce-overhead`` (CUDA graphs)
cudagraphs
=============  =========================================================================================

the bare step (the module's own ``training_step`` with Lightning's plumbing stubbed: real optimizers and
schedulers, ``loss.backward()``) is timed per iteration after a device sync, median of ``--iters`` after
``--warmup``; the first iterations of a compiled setting give the compile seconds. FLOPs of one iteration
(``torch.utils.flop_counter``, eager) give TFLOP/s and MFU against the measured bf16 matmul peak. Each preset's
fastest setting is written under ``iterations`` in the schema the GPU-hour estimate reads:
``{"<preset>": {"seconds_per_iteration", "setting", "device", "batch_size", "date"}}``. Every figure is written to
``--out`` as soon as it is measured, so a stage stopped by ``timeout`` keeps what it had.

``--lightning`` also times the same module under a Lightning Trainer (the ``gansr-train`` loop without data
loading: in-memory batches) for the first preset, so the Lightning overhead is measured against the bare step.
``--tiny`` shrinks every network (CPU smoke runs of ``benchmarks/gpu_check.sh --cpu-smoke``).
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytorch_lightning as pl
import torch
from common import (
    CUDA,
    DEVICE,
    IterationTimer,
    device_name,
    read_json,
    sync,
    today,
    update_json,
)
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from gansr.cli import compose_config
from gansr.training.speed import apply_speed_settings

PRESETS = ["esrgan", "fasrgan", "fs_srgan", "esrgan_psnr"]
SETTINGS = {
    "eager fp32": {"precision": "32-true", "speed": {"float32_matmul_precision": "highest", "channels_last": False}},
    "eager tf32": {"precision": "32-true", "speed": {"float32_matmul_precision": "high", "channels_last": True}},
    "eager bf16": {"precision": "bf16-mixed", "speed": {"float32_matmul_precision": "high", "channels_last": True}},
    "compiled bf16": {"precision": "bf16-mixed", "speed": {"float32_matmul_precision": "high", "channels_last": True, "compile": True}},
    "compiled bf16 cudagraphs": {"precision": "bf16-mixed", "speed": {"float32_matmul_precision": "high", "channels_last": True,
                                                                       "compile": True, "compile_mode": "reduce-overhead"}},
}
#: what ``speed=gpu`` sets besides the above (conf/speed/gpu.yaml)
GPU_SPEED = {"finite_check_interval": 100, "batch_real_fake": "auto"}
TINY = {  # per generator class: the overrides tests/test_experiments.py uses
    "RRDBNet": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"],
    "SRResNet": ["generator.num_feat=8", "generator.num_block=1"],
    "EDSR": ["generator.num_feat=8", "generator.num_block=1"],
}


class RandomBatches(Dataset):
    """``n`` random LR/HR pairs of the preset's patch size (HR uniform in [0,1], LR its box down-scale)."""

    def __init__(self, n: int, patch: int, scale: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.hr = torch.rand(n, 3, patch, patch, generator=g)
        self.lr = torch.nn.functional.avg_pool2d(self.hr, scale)

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> dict:
        return {"lr": self.lr[i], "hr": self.hr[i]}


def preset_config(preset: str, tiny: bool, workdir: Path):
    """The preset's composed config (VGG19 random-init), shrunk with ``tiny``."""
    overrides = [f"experiment={preset}", "loss.perceptual.pretrained=false"]
    cfg = compose_config(overrides, workdir)
    if tiny:
        generator = cfg.generator._target_.rsplit(".", 1)[-1]
        overrides += [*TINY[generator], "data.patch_size=32", "data.batch_size=2", "discriminator.num_feat=4"]
        if cfg.get("sharing"):
            overrides += ["sharing.num_feat=8", "+sharing.num_grow_ch=4"]
        cfg = compose_config(overrides, workdir)
    return cfg


def build(cfg, setting: str) -> pl.LightningModule:
    torch.manual_seed(0)
    module = instantiate(cfg.module).to(DEVICE).train()
    # CPU smoke runs trace with aot_eager: inductor's C++ code generation takes many minutes on a small CPU
    backend = {} if CUDA else {"compile_backend": "aot_eager"}
    apply_speed_settings(module, {**GPU_SPEED, **SETTINGS[setting]["speed"], **backend})
    return module


def stub_lightning(module: pl.LightningModule) -> None:
    """Runs ``module.training_step`` without a Trainer: real optimizers and schedulers, ``loss.backward()``; no
    trainer attached means no logging iteration (as on a non-logging step of a real run)."""
    configured = module.configure_optimizers()
    if isinstance(configured, torch.optim.Optimizer):
        optimizers, schedulers = [configured], []
    else:
        optimizers, schedulers = configured
    stubs = {"optimizers": lambda: optimizers[0] if len(optimizers) == 1 else tuple(optimizers),
             "lr_schedulers": lambda: schedulers or None, "manual_backward": lambda loss: loss.backward()}
    for name, fn in stubs.items():
        object.__setattr__(module, name, fn)


def batch_on_device(cfg, module) -> dict:
    data = RandomBatches(int(cfg.data.batch_size), int(cfg.data.patch_size), int(cfg.scale))
    batch = {"lr": data.lr.to(DEVICE), "hr": data.hr.to(DEVICE)}
    return module.on_after_batch_transfer(batch, 0)


def autocast(setting: str):
    if SETTINGS[setting]["precision"] == "bf16-mixed":
        return torch.autocast(DEVICE.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def time_bare(cfg, setting: str, warmup: int, iters: int) -> dict:
    module = build(cfg, setting)
    stub_lightning(module)
    batch = batch_on_device(cfg, module)

    def step() -> float:
        sync()
        start = time.perf_counter()
        if module.cudagraph_steps:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(setting):
            module.training_step(batch, 0)
        sync()
        return time.perf_counter() - start

    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    first = [step() for _ in range(warmup)]
    seconds = [step() for _ in range(iters)]
    median = statistics.median(seconds)
    out = {"seconds_per_iteration": median, "iterations_per_s": 1 / median, "timed_iterations": iters,
           "warmup_s": sum(first), "compile_s": max(0.0, sum(first) - warmup * median) if "compiled" in setting else None}
    if CUDA:
        out["peak_cuda_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def iteration_flops(cfg) -> int:
    """FLOPs of one eager fp32 iteration (forward and backward of G, D, E and the VGG), counted on the device."""
    module = build(cfg, "eager fp32")
    stub_lightning(module)
    batch = batch_on_device(cfg, module)
    with FlopCounterMode(display=False) as counter:
        module.training_step(batch, 0)
    return int(counter.get_total_flops())


def time_lightning(cfg, setting: str, warmup: int, iters: int) -> dict:
    """The same module under a Lightning Trainer (manual optimisation, logging every 50 iterations as
    ``trainer=gpu``), in-memory batches (pinned): the Lightning overhead over :func:`time_bare`."""
    module, timer = build(cfg, setting), IterationTimer()
    steps = warmup + iters
    trainer = pl.Trainer(accelerator="gpu" if CUDA else "cpu", devices=1, precision=SETTINGS[setting]["precision"],
                         max_steps=steps * module.optimizer_steps_per_iteration, log_every_n_steps=50, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    data = RandomBatches(int(cfg.data.batch_size) * steps, int(cfg.data.patch_size), int(cfg.scale))
    trainer.fit(module, DataLoader(data, batch_size=int(cfg.data.batch_size), pin_memory=CUDA))
    median = statistics.median(timer.seconds[warmup:])
    return {"seconds_per_iteration": median, "iterations_per_s": 1 / median, "timed_iterations": iters}


def matmul_peak_tflops(out: Path) -> float | None:
    found = read_json(out).get("matmul")
    return found["gflops"] / 1e3 if found and found.get("dtype") == "bfloat16" else None


def record_iteration(iterations: dict, preset: str, setting: str, seconds: float, batch_size: int) -> bool:
    """Keep ``seconds`` as ``iterations[preset]`` (the schema the GPU-hour estimate reads) when it is the preset's
    first figure, replaces one from another device or day, or is faster than today's. True when it was kept."""
    best = iterations.get(preset)
    if best is not None and best.get("device") == device_name() and best.get("date") == today() \
            and best["seconds_per_iteration"] <= seconds:
        return False
    iterations[preset] = {"seconds_per_iteration": float(seconds), "setting": setting, "device": device_name(),
                          "batch_size": int(batch_size), "date": today()}
    return True


def run(args) -> None:
    out = Path(args.out)
    workdir = Path(tempfile.mkdtemp(prefix="gansr_bench_"))
    results = read_json(out).get("presets", {})
    iterations = read_json(out).get("iterations", {})
    peak = matmul_peak_tflops(out)
    for preset in args.presets:
        cfg = preset_config(preset, args.tiny, workdir)
        entry = results.setdefault(preset, {"batch_size": int(cfg.data.batch_size), "hr_patch": int(cfg.data.patch_size)})
        try:
            entry["tflop_per_iteration"] = iteration_flops(cfg) / 1e12
        except Exception as err:  # noqa: BLE001 - a figure that cannot be measured is reported, not fatal
            entry["tflop_per_iteration_error"] = repr(err)
        for setting in args.settings:
            print(f"[bench] {preset}: {setting} ...", flush=True)
            try:
                figures = time_bare(cfg, setting, args.warmup + (2 if "compiled" in setting else 0), args.iters)
            except Exception as err:  # noqa: BLE001
                entry[setting] = {"error": "".join(traceback.format_exception_only(err)).strip()[-2000:]}
                update_json(out, "presets", results)
                continue
            tflop = entry.get("tflop_per_iteration")
            if tflop:
                figures["tflops"] = tflop / figures["seconds_per_iteration"]
                if peak:
                    figures["mfu_vs_bf16_matmul_peak"] = figures["tflops"] / peak
            entry[setting] = figures
            if not args.tiny and record_iteration(iterations, preset, setting, figures["seconds_per_iteration"], int(cfg.data.batch_size)):
                update_json(out, "iterations", iterations)
            update_json(out, "presets", results)
            print(f"[bench] {preset}: {setting}: {figures['seconds_per_iteration']:.4f} s/it", flush=True)
        if args.lightning and preset == args.presets[0]:
            for setting in args.lightning:
                try:
                    entry[f"lightning {setting}"] = time_lightning(cfg, setting, args.warmup + (2 if "compiled" in setting else 0), args.iters)
                    bare = entry.get(setting, {}).get("seconds_per_iteration")
                    if bare:
                        entry[f"lightning {setting}"]["overhead_pct"] = 100 * (entry[f"lightning {setting}"]["seconds_per_iteration"] / bare - 1)
                except Exception as err:  # noqa: BLE001
                    entry[f"lightning {setting}"] = {"error": repr(err)[-2000:]}
                update_json(out, "presets", results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--lightning", nargs="*", default=[], choices=list(SETTINGS),
                        help="also time these settings under a Lightning Trainer (first preset)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    update_json(Path(args.out), "device", device_name())
    run(args)


if __name__ == "__main__":
    sys.exit(main())
