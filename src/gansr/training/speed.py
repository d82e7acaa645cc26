"""Speed settings of a training run (config group ``speed``: ``cpu`` by default, ``gpu`` with ``trainer=gpu|ddp``).

=========================  ===================================================================================
setting                    effect
=========================  ===================================================================================
channels_last              NHWC memory format, the layout cuDNN's bf16/fp16 tensor-core convolutions run fastest
                           in: ``true`` (G, D, E and the perceptual loss's VGG), ``false``, or a list of those
                           networks' names (``[generator, discriminator, extractor, perceptual]``). With G (or E)
                           in NHWC each batch is converted too (``SRModule.on_after_batch_transfer``)
compile                    ``torch.compile`` G, D and E for the training step (``SRModule.step_network``: the
                           compiled wrapper shares the eager module's parameters, is not a registered submodule,
                           so checkpoint keys stay the eager ones, and validation/export run the eager module,
                           which avoids a recompile per validation image size) and the frozen VGG of the
                           perceptual loss in place (used by the training step only)
compile_mode               ``torch.compile`` mode: null (default) | reduce-overhead (CUDA graphs; each iteration's
                           start is marked with ``torch.compiler.cudagraph_mark_step_begin``) | max-autotune
compile_backend            ``torch.compile`` backend: inductor (default); aot_eager traces without generating
                           code (what the CPU tests use to check every preset compiles)
float32_matmul_precision   ``torch.set_float32_matmul_precision``: null (leave as is) | highest | high (TF32
                           matmuls on Ampere and newer; cuDNN convolutions already use TF32 by default:
                           ``torch.backends.cudnn.allow_tf32``) | medium
batch_real_fake            the D step forwards ``cat(real, fake)`` once instead of two forwards. ``auto`` does so
                           only when no BatchNorm is in D or E: batching would otherwise mix real and fake
                           statistics in one BatchNorm batch, which is not the official codes' D step
finite_check_interval      1: every optimizer step reads the NaN/Inf flag (one host sync per step; needed by
                           ``on_nonfinite=skip``). N > 1: flags stay on the device and are read every N
                           iterations and before every checkpoint is written (``DeferredFiniteCheck``)
progress_bar_refresh_rate  how often the bar redraws (it shows values from the last logging iteration, already
                           on the host: no device read)
=========================  ===================================================================================

Every paper discriminator (VGG128, SRGAN's, EDSR/PESR's, FASRGAN's UNet, Fs-SRGAN's) has BatchNorm, so ``auto``
keeps two D forwards for all presets; ``always`` batches anyway (one BatchNorm batch of real and fake).

Training values are logged on logging iterations only (the first, every ``trainer.log_every_n_steps``-th and
the last; ``SRModule.is_logging_iteration``), read back once per such iteration: with
``finite_check_interval`` > 1 no other iteration reads the device.

bf16 autocast is Lightning's ``trainer.precision=bf16-mixed`` (on in ``trainer=gpu``); the whole training step
runs under it except where ``module.fp32_sr`` (the [0,255] mask rows) keeps SR and the mask in fp32. Validation
SR is cast to fp32 before it is rounded to 8 bits, and the metrics compute in float64. CPU runs keep fp32 and
check every step.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

BATCH_REAL_FAKE = ("auto", "always", "never")
#: networks a speed setting can name: the module's attribute holding each
NETWORKS = {"generator": "generator", "extractor": "extractor", "discriminator": "discriminator", "perceptual": "perceptual_loss.vgg"}
MATMUL_PRECISIONS = ("highest", "high", "medium")


def has_batchnorm(*modules: nn.Module | None) -> bool:
    """True when any of ``modules`` contains a BatchNorm layer (whose statistics depend on the batch)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for module in modules if module is not None
               for m in module.modules())


def network(module: nn.Module, name: str) -> nn.Module | None:
    """The network ``name`` of :data:`NETWORKS` in ``module``, or None when the module has none."""
    found = module
    for attribute in NETWORKS[name].split("."):
        found = getattr(found, attribute, None)
        if found is None:
            return None
    return found


def channels_last_networks(setting) -> list[str]:
    """``speed.channels_last`` (a bool or a list of network names) -> the network names to convert."""
    if isinstance(setting, bool):
        return list(NETWORKS) if setting else []
    names = list(setting)
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        raise ValueError(f"speed.channels_last: unknown network(s) {unknown}; use true, false or a list of {list(NETWORKS)}")
    return names


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
    precision = speed.get("float32_matmul_precision")
    if precision is not None:
        if precision not in MATMUL_PRECISIONS:
            raise ValueError(f"speed.float32_matmul_precision must be null or one of {MATMUL_PRECISIONS}, got {precision!r}")
        torch.set_float32_matmul_precision(precision)
    nhwc = channels_last_networks(speed.get("channels_last", False))
    for name in nhwc:
        if network(module, name) is not None:
            network(module, name).to(memory_format=torch.channels_last)
    module.channels_last = bool({"generator", "extractor"} & set(nhwc))
    if speed.get("compile", False):
        compile_networks(module, speed.get("compile_mode"), speed.get("compile_backend") or "inductor")


def compile_networks(module: nn.Module, mode: str | None, backend: str) -> None:
    """``torch.compile`` the training step's networks (see the module docstring): G, E and D as wrappers in
    ``module.compiled_networks``, the perceptual loss's frozen VGG in place."""
    kwargs = {"backend": backend, **({"mode": mode} if mode and backend == "inductor" else {})}  # modes are inductor's
    for name in ("generator", "extractor", "discriminator"):
        net = network(module, name)
        if net is not None:
            module.compiled_networks[name] = torch.compile(net, **kwargs)
    vgg = network(module, "perceptual")
    if vgg is not None:
        vgg.compile(**kwargs)
    module.cudagraph_steps = mode == "reduce-overhead"
