"""The one GAN step: which optimizer updates what, the iteration counter, schedulers and composition."""
from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gansr import ESRGAN, FASRGAN, FsSRGAN, GANModule, PSNRModule
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.archs.unet_discriminator import UNetDiscriminator
from gansr.archs.vgg_discriminator import VGGStyleDiscriminator
from gansr.losses import FineGrainedAttentionLoss, PixelLoss, PixelMapGAN, RelativisticAverageGAN
from gansr.training.mask import ErrorMask

PATCH = 32


class RandomPairs(Dataset):
    """Fixed random LR/HR pairs (HR 32x32, LR 8x8)."""

    def __init__(self, n: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.hr = torch.rand(n, 3, PATCH, PATCH, generator=g)
        self.lr = torch.nn.functional.avg_pool2d(self.hr, 4)

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> dict:
        return {"lr": self.lr[i], "hr": self.hr[i], "name": str(i)}


def adam():
    return functools.partial(torch.optim.Adam, lr=1e-3)


def milestones(m):
    return functools.partial(torch.optim.lr_scheduler.MultiStepLR, milestones=m, gamma=0.5)


def tiny_esrgan(extractor: bool = False, **kwargs) -> GANModule:
    torch.manual_seed(0)
    e = SharedExtractor(num_feat=8, num_block=1, num_grow_ch=4) if extractor else None
    g = RRDBNet(in_channels=8 if extractor else 3, num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    d = VGGStyleDiscriminator(in_channels=8 if extractor else 3, num_feat=4, input_size=PATCH)
    cls = FsSRGAN if extractor else ESRGAN
    kwargs.setdefault("pixel_loss", PixelLoss(1e-2))
    if extractor:
        kwargs["extractor"] = e
    return cls(g, d, optimizer_g=adam(), optimizer_d=adam(), **kwargs)


def fit(module: pl.LightningModule, iterations: int = 1, batch_size: int = 4) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=iterations * module.optimizer_steps_per_iteration,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(RandomPairs(), batch_size=batch_size))
    return trainer


def snapshot(module: torch.nn.Module | None) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()] if module is not None else []


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


@pytest.mark.parametrize("extractor", [False, True], ids=["esrgan", "fs_srgan"])
def test_generator_step_updates_only_generator_side(monkeypatch, extractor):
    module = tiny_esrgan(extractor)
    monkeypatch.setattr(module, "discriminator_step", lambda *a, **k: None)
    g, d, e = snapshot(module.generator), snapshot(module.discriminator), snapshot(module.extractor)
    fit(module)
    assert changed(g, module.generator)
    assert not changed(d, module.discriminator)
    if extractor:  # E is trained by the G step too (docs/methods.md §1.5)
        assert changed(e, module.extractor)


@pytest.mark.parametrize("extractor", [False, True], ids=["esrgan", "fs_srgan"])
def test_discriminator_step_updates_only_discriminator_side(monkeypatch, extractor):
    module = tiny_esrgan(extractor)
    monkeypatch.setattr(module, "generator_step", lambda *a, **k: None)
    g, d, e = snapshot(module.generator), snapshot(module.discriminator), snapshot(module.extractor)
    fit(module)
    assert not changed(g, module.generator)
    assert changed(d, module.discriminator)
    if extractor:  # E is owned by the D optimizer as well
        assert changed(e, module.extractor)


def test_shared_extractor_is_owned_by_both_optimizers():
    module = tiny_esrgan(extractor=True)
    trainer = fit(module)
    opt_g, opt_d = trainer.optimizers
    ids = lambda opt: {id(p) for group in opt.param_groups for p in group["params"]}  # noqa: E731
    e = {id(p) for p in module.extractor.parameters()}
    g = {id(p) for p in module.generator.parameters()}
    d = {id(p) for p in module.discriminator.parameters()}
    assert ids(opt_g) == e | g
    assert ids(opt_d) == e | d
    # two independent Adam states step E twice per iteration
    first = next(iter(module.extractor.parameters()))
    assert opt_g.state[first]["step"] == 1 and opt_d.state[first]["step"] == 1


def test_iteration_counter_and_milestones_advance_once_per_batch():
    module = tiny_esrgan(scheduler_g=milestones([2]), scheduler_d=milestones([2]))
    trainer = fit(module, iterations=3)
    assert module.iteration == 3
    assert trainer.global_step == 6  # Lightning counts optimizer steps: two per batch
    for optimizer in trainer.optimizers:  # halved once, at iteration 2
        assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)


def test_psnr_module_counts_one_step_per_iteration():
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    module = PSNRModule(g, PixelLoss(1.0), optimizer=adam(), scheduler=milestones([1]))
    trainer = fit(module, iterations=2)
    assert module.iteration == 2 and trainer.global_step == 2
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(5e-4)


def test_step_is_bit_identical_to_esrgan_with_mechanisms_off():
    """GANModule with the ESRGAN parts and mask/attention/sharing off == the ESRGAN variant, bit for bit."""
    plain = tiny_esrgan()
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    d = VGGStyleDiscriminator(num_feat=4, input_size=PATCH)
    generic = GANModule(g, d, RelativisticAverageGAN(), adam(), adam(), pixel_loss=PixelLoss(1e-2), adversarial_weight=5e-3,
                        mask=None, attention=None, extractor=None)
    fit(plain, iterations=2)
    fit(generic, iterations=2)
    for a, b in zip(plain.state_dict().values(), generic.state_dict().values()):
        assert torch.equal(a, b)


def test_mask_changes_what_the_discriminator_sees():
    plain, masked = tiny_esrgan(), tiny_esrgan(mask=ErrorMask(k=0.2, b=0.5))
    fit(plain)
    fit(masked)
    assert any(not torch.equal(a, b) for a, b in zip(plain.discriminator.parameters(), masked.discriminator.parameters()))


def test_fasrgan_logs_map_and_attention_terms():
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    d = UNetDiscriminator(num_feat=4, input_size=PATCH)
    module = FASRGAN(g, d, optimizer_g=adam(), optimizer_d=adam(), pixel_loss=PixelLoss(1e-2))
    assert isinstance(module.map_objective, PixelMapGAN) and isinstance(module.attention, FineGrainedAttentionLoss)
    assert module.attention.weight == 1e-2 and module.adversarial_map_weight == 5e-3  # FASRGAN paper lambda2; json
    trainer = fit(module)
    logged = set(trainer.logged_metrics)
    assert {"train/g/adversarial_map", "train/g/attention", "train/d/adversarial_map"} <= logged


def test_attention_without_map_discriminator_is_refused():
    module = tiny_esrgan(attention=FineGrainedAttentionLoss(5e-2))
    with pytest.raises(ValueError, match="per-pixel map"):
        fit(module)


def test_nonfinite_loss_stops_with_term_and_iteration():
    from gansr.training.divergence import DivergenceError

    class NaNLoss(torch.nn.Module):
        def forward(self, sr, hr):
            return sr.mean() * float("nan")

    module = tiny_esrgan(pixel_loss=NaNLoss())
    with pytest.raises(DivergenceError, match=r"iteration 1: g/pixel=nan"):  # the first, as the log counts
        fit(module)


def test_nonfinite_loss_skip_policy_drops_the_batch():
    class NaNLoss(torch.nn.Module):
        def forward(self, sr, hr):
            return sr.mean() * float("nan")

    module = tiny_esrgan(pixel_loss=NaNLoss(), on_nonfinite="skip")
    before = snapshot(module.generator)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_train_batches=1)
    trainer.fit(module, DataLoader(RandomPairs(), batch_size=4))
    assert module.skipped_batches == 1
    assert not changed(before, module.generator)
