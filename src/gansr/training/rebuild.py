"""Rebuilding a training module from the config a run folder recorded, as data (``gansr.analysis``).

A run folder's ``hparams.yaml`` / ``.hydra/config.yaml`` is a file, so it never reaches Hydra's ``instantiate``:
its ``module`` node is built by :func:`gansr.utils.safe_config.build_object` from :data:`RUN_MODULE_CLASSES`, the
classes ``conf/module``, ``conf/generator``, ``conf/discriminator``, ``conf/gan``, ``conf/loss``, ``conf/mask``,
``conf/attention`` and ``conf/sharing`` name (and the common ``torch.optim`` optimizers and schedulers as
``_partial_`` factories), each with plain arguments; on the ``meta`` device first, so a config that does not match
the checkpoint's weights is refused before anything is allocated (docs/reliability.md, "Reading run folders and
weight files").

The perceptual loss is not in the list: it reads the VGG19 weights file its config names, and inspecting a run
does not need it (:func:`gansr.analysis.load_gan_run` drops it before building).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch.optim import SGD, Adam, AdamW
from torch.optim.lr_scheduler import CosineAnnealingLR, MultiStepLR, StepLR

from gansr.archs.bicubic import BicubicUpsampler
from gansr.archs.edsr import EDSR
from gansr.archs.edsr_discriminator import EDSRDiscriminator
from gansr.archs.fs_discriminator import FsVGGDiscriminator
from gansr.archs.msrresnet import MSRResNet
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.archs.srgan_discriminator import SRGANDiscriminator
from gansr.archs.srresnet import SRResNet
from gansr.archs.srresnet_basicsr import SRResNetBasicSR
from gansr.archs.unet_discriminator import UNetDiscriminator
from gansr.archs.vgg_discriminator import VGGStyleDiscriminator
from gansr.losses.adversarial import (
    PixelMapGAN,
    RelativisticAverageGAN,
    RelativisticStandardGAN,
    VanillaGAN,
)
from gansr.losses.attention import FineGrainedAttentionLoss
from gansr.losses.pixel import PixelLoss
from gansr.losses.tv import TVLoss
from gansr.training.gan_module import GANModule
from gansr.training.mask import ErrorMask
from gansr.training.psnr_module import PSNRModule
from gansr.training.sr_module import SRModule
from gansr.training.variants import (
    EDSRGAN,
    ESRGAN,
    FASRGAN,
    PESR,
    SRGAN,
    FAFsSRGAN,
    FsSRGAN,
)
from gansr.utils.safe_config import build_fitting, build_object, registry

_MODULES = (GANModule, PSNRModule, SRGAN, ESRGAN, FASRGAN, FsSRGAN, FAFsSRGAN, PESR, EDSRGAN)

#: what a recorded ``module`` config may name: the training modules (also as ``gansr.<Name>``), networks, losses,
#: the error mask, and optimizers/schedulers
RUN_MODULE_CLASSES: dict[str, type] = registry(
    *_MODULES,
    RRDBNet, SRResNet, SRResNetBasicSR, MSRResNet, EDSR, BicubicUpsampler, SharedExtractor,
    VGGStyleDiscriminator, SRGANDiscriminator, EDSRDiscriminator, FsVGGDiscriminator, UNetDiscriminator,
    VanillaGAN, RelativisticAverageGAN, RelativisticStandardGAN, PixelMapGAN,
    PixelLoss, TVLoss, FineGrainedAttentionLoss, ErrorMask,
    Adam, AdamW, SGD, MultiStepLR, StepLR, CosineAnnealingLR,
    public={**{f"gansr.{cls.__name__}": cls for cls in _MODULES},
            **{f"torch.optim.{cls.__name__}": cls for cls in (Adam, AdamW, SGD)},
            **{f"torch.optim.lr_scheduler.{cls.__name__}": cls for cls in (MultiStepLR, StepLR, CosineAnnealingLR)}},
)


def build_run_module(module_node: Mapping, weights: Mapping[str, torch.Tensor], source: str | Path) -> SRModule:
    """The training module of a recorded ``module`` config (plain data), built only once its meta-device twin has
    exactly the keys and shapes of ``weights`` (the checkpoint's state dict, minus what the caller dropped).

    Raises:
        UnsafeConfigError: the config names anything outside :data:`RUN_MODULE_CLASSES` or passes non-plain or
            out-of-bounds arguments; nothing is built.
        CheckpointMismatchError: the weights do not fit the configured module.
        TypeError: ``module._target_`` names an allowed class that is not a training module.
    """
    def build() -> SRModule:
        return build_object(module_node, RUN_MODULE_CLASSES, source, nested=True, where="module")

    target = module_node.get("_target_") if isinstance(module_node, Mapping) else None
    cls = RUN_MODULE_CLASSES.get(target) if isinstance(target, str) else None
    if cls is not None and not issubclass(cls, SRModule):
        raise TypeError(f"{source}: module._target_ {target!r} is not one of gansr's training modules")
    return build_fitting(build, weights, source, "the checkpoint's")
