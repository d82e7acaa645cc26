"""Loss modules: pixel, perceptual (VGG19), total variation, adversarial objectives, FASRGAN attention."""

from gansr.losses.adversarial import (
    AdversarialObjective,
    PixelMapGAN,
    RelativisticAverageGAN,
    RelativisticStandardGAN,
    VanillaGAN,
)
from gansr.losses.attention import FineGrainedAttentionLoss
from gansr.losses.perceptual import PerceptualLoss, VGGFeatureExtractor, vgg19_weights_available
from gansr.losses.pixel import PixelLoss
from gansr.losses.tv import TVLoss

__all__ = [
    "AdversarialObjective",
    "FineGrainedAttentionLoss",
    "PerceptualLoss",
    "PixelLoss",
    "PixelMapGAN",
    "RelativisticAverageGAN",
    "RelativisticStandardGAN",
    "TVLoss",
    "VGGFeatureExtractor",
    "VanillaGAN",
    "vgg19_weights_available",
]
