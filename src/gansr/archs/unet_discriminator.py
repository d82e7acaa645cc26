"""FASRGAN's UNet discriminator with a global score and a per-pixel score map (Yan et al., "Fine-grained
Attention and Feature-sharing Generative Adversarial Networks for Single Image Super-Resolution", IEEE TMM 2021;
docs/methods.md §1.3, 1.6, 1.9 #4-5).

Official code: [FA] ``models/modules/architecture.py::UNet`` (``double_conv``, ``inconv``, ``down``, ``up``,
``outconv``). Differences by choice, all as flags: input channels configurable (the official class hard-codes 3,
which breaks FA+Fs where it reads 64-channel extractor features), width ``num_feat`` for tiny tests.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gansr.archs.blocks import check_input_size, conv3x3, default_init_weights


class DoubleConv(nn.Sequential):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU (``double_conv``).

    With ``bn_eps_quirk`` the first BN has ``eps = out_channels``: the official ``BatchNorm2d(out_ch, out_ch)``
    passes the channel count as eps (docs/methods.md §1.3). The second BN keeps eps 1e-5.

    Shape: ``(B,in_channels,H,W) -> (B,out_channels,H,W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, bn_eps_quirk: bool) -> None:
        super().__init__(
            conv3x3(in_channels, out_channels),
            nn.BatchNorm2d(out_channels, eps=float(out_channels) if bn_eps_quirk else 1e-5),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNetDiscriminator(nn.Module):
    """Four-level UNet: inc (F) -> down1 (2F) -> down2 (4F) -> down3 (4F, the bottleneck at P/8); a global head
    on the flattened bottleneck (Linear 4F x (P/8)^2 -> 1024, LeakyReLU 0.2, Linear -> 1); a decoder of bilinear x2
    (``align_corners=True``) + concat [skip, up] + DoubleConv (8F->2F, 4F->F, 2F->F) and a 1x1 conv to the map.

    No sigmoid inside: both outputs are logits. Init: kaiming-normal x1, biases 0, BN 1/0 (``define_D``).

    Args:
        in_channels: 3 for images (FASRGAN), 64 for shared-extractor features (FA+Fs-SRGAN).
        out_channels: channels of the score map (3: one per RGB channel).
        input_size: the only accepted input size P, a multiple of 8 (128 in FASRGAN; the FC depends on it).
        bn_eps_quirk: first BN of every DoubleConv with eps = channels, as the official code (True for fidelity).
        num_feat: width F of the first level (64).

    Shape: ``(B,in_channels,P,P) -> (global_logits (B,1), map_logits (B,out_channels,P,P))``.
    70,473,220 parameters at 3-ch input, P=128 (docs/methods.md §8.4).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        input_size: int = 128,
        bn_eps_quirk: bool = True,
        num_feat: int = 64,
    ) -> None:
        super().__init__()
        if input_size % 8:
            raise ValueError(f"{type(self).__name__}: input_size must be a multiple of 8, got {input_size}")
        self.input_size = input_size
        f = num_feat
        self.inc = DoubleConv(in_channels, f, bn_eps_quirk)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(f, 2 * f, bn_eps_quirk))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(2 * f, 4 * f, bn_eps_quirk))
        self.down3 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(4 * f, 4 * f, bn_eps_quirk))
        self.up2 = DoubleConv(8 * f, 2 * f, bn_eps_quirk)
        self.up3 = DoubleConv(4 * f, f, bn_eps_quirk)
        self.up4 = DoubleConv(2 * f, f, bn_eps_quirk)
        self.outc = nn.Conv2d(f, out_channels, 1)
        bottleneck = input_size // 8
        self.classifier = nn.Sequential(
            nn.Linear(4 * f * bottleneck * bottleneck, 1024), nn.LeakyReLU(0.2, inplace=True), nn.Linear(1024, 1)
        )
        default_init_weights(self, 1.0)

    @staticmethod
    def _up(x: torch.Tensor, skip: torch.Tensor, conv: DoubleConv) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return conv(torch.cat([skip, up], dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_input_size(self, x, self.input_size)
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        global_logits = self.classifier(x4.flatten(1))
        feat = self._up(x4, x3, self.up2)
        feat = self._up(feat, x2, self.up3)
        feat = self._up(feat, x1, self.up4)
        return global_logits, self.outc(feat)
