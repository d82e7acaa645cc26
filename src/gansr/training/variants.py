"""Named GAN variants: thin classes over :class:`GANModule` that fix their parts and defaults only.

None of them owns a training step: ``from gansr import FASRGAN`` finds a method in code, and the presets in
``conf/experiment`` target these classes. Any mechanism (mask, attention, sharing) can still be passed to any
of them where the shapes allow.
"""
from __future__ import annotations

from torch import nn

from gansr.losses.adversarial import (
    PixelMapGAN,
    RelativisticAverageGAN,
    RelativisticStandardGAN,
    VanillaGAN,
)
from gansr.losses.attention import FineGrainedAttentionLoss
from gansr.training.gan_module import GANModule


class SRGAN(GANModule):
    """SRGAN (Ledig et al., CVPR 2017; docs/methods.md §5): vanilla non-saturating GAN, G step first.

    Defaults: ``objective=VanillaGAN()``, ``adversarial_weight=1e-3``.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, objective: nn.Module | None = None, **kwargs) -> None:
        kwargs.setdefault("adversarial_weight", 1e-3)
        super().__init__(generator, discriminator, objective or VanillaGAN(), **kwargs)


class ESRGAN(GANModule):
    """ESRGAN (Wang et al., ECCVW 2018; docs/methods.md §2.4): relativistic average GAN as coded (terms averaged),
    G step first, ``adversarial_weight=5e-3``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, objective: nn.Module | None = None, **kwargs) -> None:
        kwargs.setdefault("adversarial_weight", 5e-3)
        super().__init__(generator, discriminator, objective or RelativisticAverageGAN(), **kwargs)


class FASRGAN(ESRGAN):
    """FASRGAN (Yan et al., IEEE TMM 2021; docs/methods.md §1.3-1.4): ESRGAN's objective on the UNet's global score,
    plus the per-pixel map term (``adversarial_map_weight=5e-3``) and the fine-grained attention loss with
    lambda2 = 1e-2 (the paper's value, "used in our FASRGAN"; the official json's 5e-2 is ``fasrgan_official``,
    docs/methods.md §1.7a). The discriminator must return ``(logits, map)``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, objective: nn.Module | None = None, **kwargs) -> None:
        kwargs.setdefault("map_objective", PixelMapGAN())
        kwargs.setdefault("adversarial_map_weight", 5e-3)
        kwargs.setdefault("attention", FineGrainedAttentionLoss(weight=1e-2))
        super().__init__(generator, discriminator, objective, **kwargs)


class FsSRGAN(ESRGAN):
    """Fs-SRGAN (Yan et al., IEEE TMM 2021; docs/methods.md §1.5): ESRGAN's losses with a feature extractor E shared by
    G' and D'. ``extractor`` is required; it is owned by both optimizers."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, extractor: nn.Module, objective: nn.Module | None = None, **kwargs) -> None:
        if extractor is None:
            raise ValueError("FsSRGAN needs a shared extractor: set sharing=shared_extractor")
        super().__init__(generator, discriminator, objective, extractor=extractor, **kwargs)


class FAFsSRGAN(FASRGAN):
    """FA+Fs-SRGAN (Yan et al., IEEE TMM 2021; docs/methods.md §1.6): FASRGAN's losses with the UNet on E's features
    (64 input channels) and the shared extractor owned by both optimizers; attention weight 1e-2 as FASRGAN."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, extractor: nn.Module, objective: nn.Module | None = None, **kwargs) -> None:
        if extractor is None:
            raise ValueError("FAFsSRGAN needs a shared extractor: set sharing=shared_extractor")
        super().__init__(generator, discriminator, objective, extractor=extractor, **kwargs)


class PESR(GANModule):
    """PESR (Vu et al., ECCVW 2018; docs/methods.md §3): relativistic standard GAN with focal weighting (gamma 1),
    D step first, ``adversarial_weight=1``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, objective: nn.Module | None = None, **kwargs) -> None:
        kwargs.setdefault("adversarial_weight", 1.0)
        kwargs.setdefault("step_order", "d_first")
        super().__init__(generator, discriminator, objective or RelativisticStandardGAN(focal_gamma=1.0), **kwargs)


class EDSRGAN(GANModule):
    """EDSR-GAN (EDSR-PyTorch ``--loss 5*VGG54+0.15*GAN``; docs/methods.md §4): vanilla GAN with the D loss a sum of the
    real and fake terms, D step first, ``adversarial_weight=0.15``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, objective: nn.Module | None = None, **kwargs) -> None:
        kwargs.setdefault("adversarial_weight", 0.15)
        kwargs.setdefault("step_order", "d_first")
        super().__init__(generator, discriminator, objective or VanillaGAN(), **kwargs)
