"""Two-process CPU DDP (gloo) through the real GANModule step: G step, then D step, one forward per batch.

Two processes are started with ``torch.multiprocessing`` (spawn) and each runs Lightning's ``DDPStrategy``
as an externally launched rank (``LOCAL_RANK``/``WORLD_SIZE`` set, as under torchrun), so one pair of processes
runs every fit of this file. Each rank saves its parameters after ``fit``; the parent compares them.

What is compared and why it must hold:

* rank 0 == rank 1 (ESRGAN with the BatchNorm VGG discriminator and RaGAN, Fs-SRGAN with the shared E):
  DDP all-reduces every gradient and the ranks start from the same weights, so Adam takes the same step on
  both. BN *running statistics* are buffers updated from each rank's local batch and are not compared.
* DDP == one process on the same global batch: the mean gradient of two equal halves equals the gradient of
  the whole batch only when the loss is a per-sample mean. RaGAN is not (each sample is compared with the
  batch mean of the other logits) and train-mode BatchNorm is not (batch statistics), so this check uses a
  discriminator without BN (``TinyDiscriminator``) and the vanilla GAN objective (per-sample mean BCEs), with the pixel
  loss (mean L1). The samplers match: an explicit ``DistributedSampler(shuffle=False)`` gives rank r the items
  r, r+2, ..., so the two per-rank batches of 2 are exactly the single process's batch of 4 (Lightning's own
  replacement sampler shuffles the training set even when the loader does not, so it is switched off).
"""
from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.multiprocessing as mp
from pytorch_lightning.strategies import DDPStrategy
from test_gan_module import PATCH, RandomPairs
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from gansr import ESRGAN, FsSRGAN
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.archs.vgg_discriminator import VGGStyleDiscriminator
from gansr.losses import PixelLoss
from gansr.losses.adversarial import VanillaGAN

WORLD = 2
GLOBAL_BATCH = 4
ITERATIONS = 3
CASES = ("esrgan_bn", "fs_srgan_bn", "esrgan_nobn", "fs_srgan_nobn")


class TinyDiscriminator(nn.Module):
    """A discriminator without BatchNorm: (B,C,32,32) -> (B,1)."""

    def __init__(self, in_channels: int = 3, num_feat: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 4, 4), nn.LeakyReLU(0.2), nn.Conv2d(num_feat, num_feat, 4, 4), nn.LeakyReLU(0.2)
        )
        self.linear = nn.Linear(num_feat * (PATCH // 16) ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.body(x).flatten(1))


def build(case: str) -> pl.LightningModule:
    """The tiny module of ``case``, with the same initial weights on every call."""
    torch.manual_seed(0)
    shared = case.startswith("fs_srgan")
    channels = 8 if shared else 3
    g = RRDBNet(in_channels=channels, num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    if case.endswith("_bn"):
        d, objective = VGGStyleDiscriminator(in_channels=channels, num_feat=4, input_size=PATCH), None
    else:
        d, objective = TinyDiscriminator(channels), VanillaGAN()
    kwargs = {"optimizer_g": functools.partial(torch.optim.Adam, lr=1e-3), "optimizer_d": functools.partial(torch.optim.Adam, lr=1e-3),
                  "pixel_loss": PixelLoss(1e-2), "objective": objective}
    if shared:
        return FsSRGAN(g, d, extractor=SharedExtractor(num_feat=8, num_block=1, num_grow_ch=4), **kwargs)
    return ESRGAN(g, d, **kwargs)


def parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


class SeenItems(pl.Callback):
    """Records the dataset items each training batch holds (``batch["name"]``)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.names += list(batch["name"])


def fit(module: pl.LightningModule, **trainer_kwargs) -> list[str]:
    """``ITERATIONS`` iterations on the global batch ``GLOBAL_BATCH``; returns the items this process saw."""
    seen = SeenItems()
    trainer = pl.Trainer(accelerator="cpu", callbacks=[seen], max_steps=ITERATIONS * module.optimizer_steps_per_iteration, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         use_distributed_sampler=False, **trainer_kwargs)
    batch = GLOBAL_BATCH // trainer.world_size  # what SRDataModule does with a global data.batch_size
    data = RandomPairs(n=GLOBAL_BATCH * ITERATIONS)
    sampler = DistributedSampler(data, trainer.world_size, trainer.global_rank, shuffle=False)  # rank r: r, r+2, ...
    trainer.fit(module, DataLoader(data, batch_size=batch, sampler=sampler))
    return seen.names


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
                      LOCAL_RANK=str(rank), NODE_RANK="0")
    torch.set_num_threads(1)
    for case in CASES:
        module = build(case)
        names = fit(module, devices=WORLD, strategy=DDPStrategy(process_group_backend="gloo", find_unused_parameters=True))
        torch.save({"params": parameters(module), "names": names}, Path(out) / f"{case}_rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True, start_method="spawn")
    return out


def load(out: Path, case: str, rank: int) -> dict:
    """``{"params": name -> tensor, "names": items seen}`` saved by rank ``rank``."""
    return torch.load(out / f"{case}_rank{rank}.pt", map_location="cpu", weights_only=True)


def test_ranks_see_the_two_halves_of_each_global_batch(ddp_results):
    single = [str(i) for i in range(GLOBAL_BATCH * ITERATIONS)]
    rank0, rank1 = load(ddp_results, CASES[0], 0)["names"], load(ddp_results, CASES[0], 1)["names"]
    assert len(rank0) == len(rank1) == GLOBAL_BATCH // WORLD * ITERATIONS
    half = GLOBAL_BATCH // WORLD
    for it in range(ITERATIONS):
        both = rank0[it * half : (it + 1) * half] + rank1[it * half : (it + 1) * half]
        assert sorted(both) == sorted(single[it * GLOBAL_BATCH : (it + 1) * GLOBAL_BATCH])


@pytest.mark.parametrize("case", CASES)
def test_ranks_end_with_identical_weights(ddp_results, case):
    start = parameters(build(case))
    rank0, rank1 = load(ddp_results, case, 0)["params"], load(ddp_results, case, 1)["params"]
    parts = {k.split(".")[0] for k in rank0}
    assert {"generator", "discriminator"} <= parts and (("extractor" in parts) == case.startswith("fs_srgan"))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert all(not torch.equal(rank0[k], start[k]) for k in ("generator.conv_first.weight", "discriminator." + next(
        k.split(".", 1)[1] for k in rank0 if k.startswith("discriminator.")))), "training did not move G and D"


@pytest.mark.parametrize("case", [c for c in CASES if c.endswith("_nobn")])
def test_ddp_equals_single_process_on_the_global_batch(ddp_results, case):
    single = build(case)
    fit(single, devices=1)
    expected = parameters(single)
    got = load(ddp_results, case, 0)["params"]
    assert expected.keys() == got.keys()
    # atol 1e-5 (steps of lr 1e-3): Adam divides by sqrt(v), so for near-zero gradients the different summation
    # order of the all-reduce shows up at ~1e-6 in single weights, depending on the CPU's kernels
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5, msg=lambda m, key=key: f"{key}: {m}")
