"""gansr: GAN-based single-image super-resolution on PyTorch Lightning and Hydra.

The training stages and the named GAN variants::

    from gansr import ESRGAN, FASRGAN, FsSRGAN, FAFsSRGAN, SRGAN, PESR, EDSRGAN, GANModule, PSNRModule
"""
from gansr.training.gan_module import GANModule
from gansr.training.psnr_module import PSNRModule
from gansr.training.variants import EDSRGAN, ESRGAN, FASRGAN, PESR, SRGAN, FAFsSRGAN, FsSRGAN

__all__ = ["GANModule", "PSNRModule", "SRGAN", "ESRGAN", "FASRGAN", "FsSRGAN", "FAFsSRGAN", "PESR", "EDSRGAN"]
__version__ = "0.1.0"
