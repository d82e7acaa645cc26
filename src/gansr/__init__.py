"""gansr: GAN-based single-image super-resolution on PyTorch Lightning and Hydra.

The training stages and the named GAN variants::

    from gansr import ESRGAN, FASRGAN, FsSRGAN, FAFsSRGAN, SRGAN, PESR, EDSRGAN, GANModule, PSNRModule

Inference (docs/inference.md)::

    generator = gansr.load_generator("outputs/esrgan/run/generator.pth")
    sr = gansr.upscale(image, generator, tile=256)   # numpy uint8 HxWx3, PIL image or float tensor in, same out
"""
from gansr.api import load_generator, upscale
from gansr.training.gan_module import GANModule
from gansr.training.psnr_module import PSNRModule
from gansr.training.variants import EDSRGAN, ESRGAN, FASRGAN, PESR, SRGAN, FAFsSRGAN, FsSRGAN

__all__ = ["GANModule", "PSNRModule", "SRGAN", "ESRGAN", "FASRGAN", "FsSRGAN", "FAFsSRGAN", "PESR", "EDSRGAN", "load_generator", "upscale"]
__version__ = "0.1.0"
