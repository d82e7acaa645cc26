"""gansr: GAN-based single-image super-resolution (SRGAN, ESRGAN, FASRGAN, Fs-SRGAN, FA+Fs-SRGAN, PESR, EDSR-GAN,
mask-aided training) on PyTorch Lightning and Hydra.

Most work goes through the commands (``gansr-train``, ``gansr-eval``, ``gansr-upscale``, ``gansr-score``, ...;
each has ``--help``) and README.md. From Python:

Inference (docs/inference.md)::

    import gansr
    generator = gansr.load_generator("outputs/<task>/<run>/generator.pth")   # or a run's .ckpt
    sr = gansr.upscale(image, generator, tile=256)   # numpy uint8 HxWx3, PIL image or float tensor in, same out

Training modules (LightningModules; docs/methods.md says what each trains)::

    from gansr import ESRGAN, FASRGAN, FsSRGAN, FAFsSRGAN, SRGAN, PESR, EDSRGAN, GANModule, PSNRModule

    GANModule    one GAN stage built from parts (generator, discriminator, losses, optional mask/attention/sharing)
    PSNRModule   the PSNR-oriented pre-training stage (pixel losses only)
    SRGAN, ESRGAN, FASRGAN, FsSRGAN, FAFsSRGAN, PESR, EDSRGAN
                 GANModule with the parts and defaults of each paper fixed

``help(gansr.FASRGAN)`` documents one class (with what it inherits from LightningModule); ``import gansr`` itself
loads nothing heavy.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gansr.utils.lazy import lazy_getattr

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first attribute access (PEP 562 ``__getattr__``) so that
# ``import gansr`` and the light commands start fast. A new public name goes here, in ``__all__`` and in the
# TYPE_CHECKING block. ``dir(gansr)`` lists only what is loaded, so ``help(gansr)`` shows the docstring above
# instead of importing Lightning and rendering every inherited LightningModule method.
_LAZY_EXPORTS = {
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
