"""EDSR-GAN / PESR discriminator (docs/methods.md §3, 4).

Official code: [EDSR] ``src/loss/discriminator.py::Discriminator``, [PESR] ``model/pesr.py::Discriminator``
(identical layers and key names; PESR's spectral-norm option is broken upstream and not reproduced).
It is the SRGAN discriminator with BN (and no bias) on the first conv as well.
"""

from __future__ import annotations

from gansr.archs.srgan_discriminator import SRGANDiscriminator


class EDSRDiscriminator(SRGANDiscriminator):
    """Eight conv3x3 + BN + LeakyReLU(0.2) blocks, all bias-free (F s1, F s2, 2F s1, 2F s2, 4F s1, 4F s2, 8F s1,
    8F s2) -> Linear(8F x (P/16)^2 -> 1024) -> LeakyReLU -> Linear(1024 -> 1). PyTorch default init.

    Args:
        in_channels: input channels (3).
        num_feat: channels F of the first block (64).
        input_size: HR patch size P, a multiple of 16 (96 in PESR and the EDSR GAN template).

    Shape: ``(B,in_channels,P,P) -> (B,1)`` logits. 23,563,713 parameters at 96 (docs/methods.md §8.4).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 96) -> None:
        super().__init__(in_channels=in_channels, num_feat=num_feat, input_size=input_size, first_bn=True)
