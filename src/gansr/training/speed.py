"""Speed settings of a training run (config group ``speed``: ``cpu`` by default, ``gpu`` with ``trainer=gpu|ddp``).

=========================  ===================================================================================
setting                    effect
=========================  ===================================================================================
channels_last              G, D and E (and each batch, in ``SRModule.on_after_batch_transfer``) in NHWC memory
                           format: the layout cuDNN's bf16/fp16 tensor-core convolutions run fastest in
compile                    ``nn.Module.compile`` on G, D and E in place (``torch.compile``; parameter names and
                           checkpoints unchanged); ``compile_mode`` is passed through
batch_real_fake            the D step forwards ``cat(real, fake)`` once instead of two forwards. ``auto`` does so
                           only when no BatchNorm is in D or E: batching would otherwise mix real and fake
                           statistics in one BatchNorm batch, which is not the official codes' D step
finite_check_interval      1: every optimizer step reads the NaN/Inf flag (one host sync per step; needed by
                           ``on_nonfinite=skip``). N > 1: flags stay on the device and are read every N
                           iterations and before every checkpoint is written (``DeferredFiniteCheck``)
progress_bar_refresh_rate  the bar reads the logged loss (a host sync) every this many iterations
=========================  ===================================================================================

Every paper discriminator (VGG128, SRGAN's, EDSR/PESR's, FASRGAN's UNet, Fs-SRGAN's) has BatchNorm, so ``auto``
keeps two D forwards for all presets; ``always`` batches anyway (one BatchNorm batch of real and fake).

bf16 autocast is Lightning's ``trainer.precision=bf16-mixed`` (on in ``trainer=gpu``); validation SR is cast to
fp32 before it is rounded to 8 bits, and the metrics compute in float64. CPU runs keep fp32 and check every step.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

BATCH_REAL_FAKE = ("auto", "always", "never")


def has_batchnorm(*modules: nn.Module | None) -> bool:
    """True when any of ``modules`` contains a BatchNorm layer (whose statistics depend on the batch)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for module in modules if module is not None
               for m in module.modules())


def apply_speed_settings(module: nn.Module, speed: Mapping) -> None:
    """Configure an :class:`~gansr.training.sr_module.SRModule` in place from a ``speed`` config mapping."""
    interval = int(speed.get("finite_check_interval", 1))
    if interval < 1:
        raise ValueError(f"speed.finite_check_interval must be >= 1, got {interval}")
    if interval > 1 and module.on_nonfinite == "skip":
        raise ValueError("module.on_nonfinite=skip must read the NaN flag every step: set speed.finite_check_interval=1")
    module.finite_check_interval = interval
    mode = speed.get("batch_real_fake", "auto")
    if mode not in BATCH_REAL_FAKE:
        raise ValueError(f"speed.batch_real_fake must be one of {BATCH_REAL_FAKE}, got {mode!r}")
    discriminator = getattr(module, "discriminator", None)
    if discriminator is not None:
        module.batch_real_fake = mode == "always" or (mode == "auto" and not has_batchnorm(discriminator, module.extractor))
    networks = [n for n in (module.generator, discriminator, module.extractor) if n is not None]
    if speed.get("channels_last", False):
        module.channels_last = True
        for network in networks:
            network.to(memory_format=torch.channels_last)
    if speed.get("compile", False):
        kwargs = {"mode": speed["compile_mode"]} if speed.get("compile_mode") else {}
        for network in networks:
            network.compile(**kwargs)
