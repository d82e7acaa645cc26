"""SRGAN discriminator (Ledig et al., CVPR 2017, arXiv 1609.04802v5 Fig. 4; docs/methods.md §5).

No official code; layers from the paper figure, bias-free convs before BN as in [SRGAN-TF] ``model.py``.
The final sigmoid of the figure is left out: the module returns logits for BCE-with-logits.
"""

from __future__ import annotations

import torch
from torch import nn

from gansr.archs.blocks import check_input_size


class SRGANDiscriminator(nn.Module):
    """conv3x3 (num_feat, s1, bias) + LeakyReLU(0.2), then seven conv3x3 + BN + LeakyReLU blocks
    (F s2, 2F s1, 2F s2, 4F s1, 4F s2, 8F s1, 8F s2) -> flatten 8F x (P/16)^2 -> Dense 1024 -> LeakyReLU -> Dense 1.

    Keys ``features.{i}.{0,1,2}``, ``classifier.{0,2}`` as [EDSR] ``src/loss/discriminator.py``, which shares this
    layout (:class:`gansr.archs.edsr_discriminator.EDSRDiscriminator` = this with BN on the first conv too).
    PyTorch default init.

    Args:
        in_channels: input channels (3).
        num_feat: channels F of the first block (64).
        input_size: the only accepted input height/width P, a multiple of 16 (96 in SRGAN).
        first_bn: BN (and no bias) on the first conv as well (EDSR/PESR discriminator).

    Shape: ``(B,in_channels,P,P) -> (B,1)`` logits. 23,563,649 parameters at 96 (first_bn=False).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 96, first_bn: bool = False) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError(f"{type(self).__name__}: input_size must be a multiple of 16, got {input_size}")
        self.input_size = input_size
        widths = [
            num_feat,
            num_feat,
            2 * num_feat,
            2 * num_feat,
            4 * num_feat,
            4 * num_feat,
            8 * num_feat,
            8 * num_feat,
        ]
        blocks = [self._block(in_channels, num_feat, stride=1, bn=first_bn)]
        for i in range(1, len(widths)):
            blocks.append(self._block(widths[i - 1], widths[i], stride=2 if i % 2 else 1, bn=True))
        self.features = nn.Sequential(*blocks)
        final = input_size // 16
        self.classifier = nn.Sequential(
            nn.Linear(widths[-1] * final * final, 1024), nn.LeakyReLU(0.2, inplace=True), nn.Linear(1024, 1)
        )

    @staticmethod
    def _block(in_channels: int, out_channels: int, stride: int, bn: bool) -> nn.Sequential:
        conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=not bn)
        norm = [nn.BatchNorm2d(out_channels)] if bn else []
        return nn.Sequential(conv, *norm, nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x, self.input_size)
        return self.classifier(self.features(x).flatten(1))
