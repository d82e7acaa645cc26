"""gansr: GAN-based single-image super-resolution on PyTorch Lightning and Hydra.

The training stages and the named GAN variants::

    from gansr import ESRGAN, FASRGAN, FsSRGAN, FAFsSRGAN, SRGAN, PESR, EDSRGAN, GANModule, PSNRModule

``import gansr`` loads nothing heavy: each public name is imported from its module on first use (PEP 562 module
``__getattr__``), so the command-line tools that need no Lightning (``gansr-downscale``, ``gansr-score``, ...) start
fast. To export a new name, add it to ``_LAZY_EXPORTS`` (name -> module that defines it).

Inference (docs/inference.md)::

    generator = gansr.load_generator("outputs/esrgan/run/generator.pth")
    sr = gansr.upscale(image, generator, tile=256)   # numpy uint8 HxWx3, PIL image or float tensor in, same out
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gansr.utils.lazy import lazy_getattr

__version__ = "0.1.0"

#: public name -> the module that defines it (imported on first attribute access)
_LAZY_EXPORTS: dict[str, str] = {
    "GANModule": "gansr.training.gan_module",
    "PSNRModule": "gansr.training.psnr_module",
    "SRGAN": "gansr.training.variants",
    "ESRGAN": "gansr.training.variants",
    "FASRGAN": "gansr.training.variants",
    "FsSRGAN": "gansr.training.variants",
    "FAFsSRGAN": "gansr.training.variants",
    "PESR": "gansr.training.variants",
    "EDSRGAN": "gansr.training.variants",
    "load_generator": "gansr.api",
    "upscale": "gansr.api",
}

__all__ = list(_LAZY_EXPORTS)

if TYPE_CHECKING:  # static analysers and IDEs see the real objects
    from gansr.api import load_generator, upscale  # noqa: F401
    from gansr.training.gan_module import GANModule  # noqa: F401
    from gansr.training.psnr_module import PSNRModule  # noqa: F401
    from gansr.training.variants import EDSRGAN, ESRGAN, FASRGAN, PESR, SRGAN, FAFsSRGAN, FsSRGAN  # noqa: F401


__getattr__ = lazy_getattr(__name__, globals(), _LAZY_EXPORTS)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_EXPORTS])
