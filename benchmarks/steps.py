"""a. matmul peak and b. the ESRGAN training iteration, Lightning vs a bare loop (tiny and paper size): the
``make bench`` figures on CPU and CUDA. See ``benchmarks/run.py`` for what each section measures."""
from __future__ import annotations

import contextlib
import functools
import statistics

import pytorch_lightning as pl
import torch
from common import CUDA, DEVICE, IterationTimer, timed
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from gansr import ESRGAN
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.vgg_discriminator import VGGStyleDiscriminator
from gansr.losses import PerceptualLoss, PixelLoss, RelativisticAverageGAN
from gansr.training.speed import apply_speed_settings


def matmul_peak() -> dict:
    n, dtype, repeats = (8192, torch.bfloat16, 20) if CUDA else (1024, torch.float32, 10)
    a, b = torch.randn(n, n, device=DEVICE, dtype=dtype), torch.randn(n, n, device=DEVICE, dtype=dtype)
    seconds = timed(lambda: a @ b, repeats, warmup=2)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "gflops": 2 * n**3 / seconds / 1e9}


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
    """ESRGAN's parts (docs/methods.md §2.4): L1 1e-2, VGG19 conv5_4 (random init), RaGAN 5e-3, Adam 1e-4 (0.9, 0.99)."""
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
