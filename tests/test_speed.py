"""Speed settings (config group ``speed``): what ``trainer=gpu`` turns on, and that each setting keeps the step's
meaning: batched real/fake D forward, NHWC memory format, deferred NaN/Inf guard, in-place compile."""
from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from test_gan_module import PATCH, RandomPairs, fit, tiny_esrgan
from torch import nn
from torch.utils.data import DataLoader

from gansr.cli import compose_config
from gansr.losses import PerceptualLoss
from gansr.training import divergence
from gansr.training.divergence import DivergenceError
from gansr.training.speed import apply_speed_settings, has_batchnorm

CPU = {"channels_last": False, "compile": False, "batch_real_fake": "auto", "finite_check_interval": 1}


def no_bn_discriminator() -> nn.Module:
    """A BatchNorm-free D (B,3,32,32) -> (B,1): where batching real and fake cannot change anything."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 4, 3, 2, 1), nn.Flatten(),
                         nn.Linear(4 * (PATCH // 4) ** 2, 1))


def test_gpu_trainer_selects_gpu_speed_settings_and_cpu_keeps_fp32(tmp_path):
    cpu = compose_config(["experiment=esrgan"], tmp_path)
    assert cpu.trainer.precision == "32-true" and not cpu.speed.channels_last and cpu.speed.finite_check_interval == 1
    for trainer in ("gpu", "ddp"):
        gpu = compose_config(["experiment=esrgan", f"trainer={trainer}"], tmp_path)
        assert gpu.trainer.precision == "bf16-mixed"
        assert gpu.speed.channels_last and gpu.speed.finite_check_interval > 1
    assert not compose_config(["experiment=esrgan", "trainer=gpu", "speed=cpu"], tmp_path).speed.channels_last


def test_batch_real_fake_auto_only_without_batchnorm():
    module = tiny_esrgan()
    assert has_batchnorm(module.discriminator)
    apply_speed_settings(module, {**CPU, "batch_real_fake": "auto"})
    assert not module.batch_real_fake
    apply_speed_settings(module, {**CPU, "batch_real_fake": "always"})
    assert module.batch_real_fake
    module.discriminator = no_bn_discriminator()
    apply_speed_settings(module, {**CPU, "batch_real_fake": "auto"})
    assert module.batch_real_fake
    with pytest.raises(ValueError, match="batch_real_fake"):
        apply_speed_settings(module, {**CPU, "batch_real_fake": "yes"})


@pytest.mark.filterwarnings(r"ignore:You are trying to `self.log\(\)`")
def test_batched_discriminator_forward_gives_the_same_losses_and_gradients():
    module = tiny_esrgan()
    module.discriminator = no_bn_discriminator()
    hr = torch.rand(4, 3, PATCH, PATCH)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    results = []
    for batched in (False, True):
        module.batch_real_fake = batched
        module.discriminator.zero_grad()
        terms = module.discriminator_losses(sr, hr, None)
        terms["adversarial"].backward()
        results.append((terms["adversarial"].detach(), [p.grad.clone() for p in module.discriminator.parameters()]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_channels_last_converts_networks_and_batches_and_keeps_the_step():
    reference, nhwc = tiny_esrgan(), tiny_esrgan()
    apply_speed_settings(nhwc, {**CPU, "channels_last": True})
    conv = next(m for m in nhwc.generator.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    batch = nhwc.on_after_batch_transfer({"lr": torch.rand(2, 3, 8, 8), "name": ["a", "b"]}, 0)
    assert batch["lr"].is_contiguous(memory_format=torch.channels_last) and batch["name"] == ["a", "b"]
    lr, hr = torch.rand(4, 3, PATCH // 4, PATCH // 4), torch.rand(4, 3, PATCH, PATCH)
    nhwc_batch = nhwc.on_after_batch_transfer({"lr": lr, "hr": hr}, 0)
    grads = []
    for module, x, y in ((reference, lr, hr), (nhwc, nhwc_batch["lr"], nhwc_batch["hr"])):
        sum(module.generator_losses(module(x), y, None).values()).backward()
        grads.append([p.grad for p in module.generator.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    fit(nhwc, iterations=2)  # and the Lightning step runs in NHWC
    assert all(torch.isfinite(p).all() for p in nhwc.parameters())


class NaNAfter(nn.Module):
    """Pixel loss that turns NaN from the ``start``-th call on (calls = iterations: one G step each)."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start, self.calls = start, 0

    def forward(self, sr, hr):
        self.calls += 1
        loss = (sr - hr).abs().mean()
        return loss * float("nan") if self.calls > self.start else loss


def test_deferred_guard_reads_no_flag_per_step_and_stops_at_the_next_check(monkeypatch):
    module = tiny_esrgan(pixel_loss=NaNAfter(start=1))
    apply_speed_settings(module, {**CPU, "finite_check_interval": 3})

    def per_step_check(*args, **kwargs):
        raise AssertionError("the per-step (host-syncing) check ran")

    monkeypatch.setattr(divergence, "check_finite", per_step_check)
    monkeypatch.setattr("gansr.training.sr_module.check_finite", per_step_check)
    with pytest.raises(DivergenceError, match=r"g/pixel.* first at iteration 2 \(checked at iteration 3"):
        fit(module, iterations=6)
    assert module.iteration == 3


def test_deferred_guard_refuses_to_write_a_checkpoint_after_a_bad_step(tmp_path):
    module = tiny_esrgan(pixel_loss=NaNAfter(start=0))
    apply_speed_settings(module, {**CPU, "finite_check_interval": 100})
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, DataLoader(RandomPairs(), batch_size=4))
    path = tmp_path / "last.ckpt"
    with pytest.raises(DivergenceError, match="first at iteration 1"):
        trainer.save_checkpoint(path)
    assert not path.exists()


def test_deferred_guard_is_refused_with_the_skip_policy():
    module = tiny_esrgan(on_nonfinite="skip")
    with pytest.raises(ValueError, match="finite_check_interval=1"):
        apply_speed_settings(module, {**CPU, "finite_check_interval": 10})


def test_compile_wraps_the_step_networks_and_keeps_checkpoint_keys():
    """G, D (and E) run compiled in the training step only; validation/export use the eager modules (no recompile
    per validation image size); the frozen VGG compiles in place; the state_dict keys are the eager ones."""
    module = tiny_esrgan(perceptual_loss=PerceptualLoss(1.0, pretrained=False))
    keys = list(module.state_dict())
    apply_speed_settings(module, {**CPU, "compile": True, "compile_mode": "reduce-overhead"})
    for name in ("generator", "discriminator"):
        compiled = module.step_network(name)
        assert isinstance(compiled, torch._dynamo.eval_frame.OptimizedModule) and compiled._orig_mod is getattr(module, name)
    assert module.step_network("extractor") is None and module.cudagraph_steps
    assert module.perceptual_loss.vgg._compiled_call_impl is not None
    assert module.generator._compiled_call_impl is None  # validation and export stay eager
    assert list(module.state_dict()) == keys


def test_channels_last_per_network_and_matmul_precision():
    module = tiny_esrgan(perceptual_loss=PerceptualLoss(1.0, pretrained=False))
    before = torch.get_float32_matmul_precision()
    try:
        apply_speed_settings(module, {**CPU, "channels_last": ["discriminator", "perceptual"], "float32_matmul_precision": "high"})
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)
    nhwc = lambda net: next(m for m in net.modules() if isinstance(m, nn.Conv2d)).weight.is_contiguous(memory_format=torch.channels_last)
    assert nhwc(module.discriminator) and nhwc(module.perceptual_loss.vgg) and not nhwc(module.generator)
    assert not module.channels_last  # batches stay NCHW when G and E do
    with pytest.raises(ValueError, match="unknown network"):
        apply_speed_settings(module, {**CPU, "channels_last": ["vgg"]})
    with pytest.raises(ValueError, match="float32_matmul_precision"):
        apply_speed_settings(module, {**CPU, "float32_matmul_precision": "tf32"})
