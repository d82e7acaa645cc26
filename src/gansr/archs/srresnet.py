"""SRGAN generator SRResNet (Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, arXiv 1609.04802v5 Fig. 4; docs/methods.md §5).

No official code exists; the layer table follows the paper figure. Choices the paper leaves open:
PReLU slopes shared (one per layer, default) or per channel; no output activation (images are [0,1] in and out
here, not the paper's [-1,1] HR range) and no clamp; PyTorch default init.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from gansr.archs.blocks import PixelShuffleUpsampler, conv3x3


class SRResNetBlock(nn.Module):
    """conv3x3 -> BN -> PReLU -> conv3x3 -> BN, plus the input.

    Shape: ``(B,F,H,W) -> (B,F,H,W)``.
    """

    def __init__(self, num_feat: int, prelu_params: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(num_feat, num_feat)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.act = nn.PReLU(prelu_params)
        self.conv2 = conv3x3(num_feat, num_feat)
        self.bn2 = nn.BatchNorm2d(num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


def srresnet_head(in_channels: int, num_feat: int, prelu_params: int) -> nn.Sequential:
    """SRResNet's first layer: conv9x9 ``in_channels -> num_feat`` + PReLU. ``(B,C,h,w) -> (B,num_feat,h,w)``."""
    return nn.Sequential(nn.Conv2d(in_channels, num_feat, 9, 1, 4), nn.PReLU(prelu_params))


class SRResNet(nn.Module):
    """conv9x9 + PReLU -> num_block residual blocks -> conv3x3 + BN (+ skip from the first PReLU) ->
    [conv3x3 F->4F, PixelShuffle 2, PReLU] x log2(scale) -> conv9x9 F->3.

    Args:
        num_feat: trunk width (64).
        in_channels: 3 for RGB; with ``head=False`` the width of the features it reads (= ``num_feat``).
        num_block: residual blocks B (16; 14 in SRGAN_Fs's G', see ``conf/generator/srresnet_fs.yaml``).
        scale: up-sampling factor (4), 2, 3 or a power of two.
        prelu: "shared" (one slope per PReLU layer; 1,549,462 parameters) or "channel" (one per channel).
        head: False drops the conv9x9 + PReLU head: the network then reads features of width ``num_feat`` from
            a shared extractor whose head it is (SRGAN_Fs, FASRGAN paper's SRGAN section: "a convolution layer
            and a residual block" are shared; :class:`gansr.archs.shared_extractor.SharedExtractor` with
            ``block="srresnet"``). The long skip then starts at the input features.

    Shape: ``(B,in_channels,h,w) -> (B,3,scale*h,scale*w)``.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_block: int = 16, scale: int = 4,
                 prelu: str = "shared", head: bool = True) -> None:
        super().__init__()
        if prelu not in ("shared", "channel"):
            raise ValueError(f"prelu must be 'shared' or 'channel', got {prelu!r}")
        if not head and in_channels != num_feat:
            raise ValueError(f"SRResNet(head=False) reads features of width num_feat={num_feat}, got in_channels={in_channels}")
        prelu_params = 1 if prelu == "shared" else num_feat
        self.head = srresnet_head(in_channels, num_feat, prelu_params) if head else nn.Identity()
        self.body = nn.Sequential(*(SRResNetBlock(num_feat, prelu_params) for _ in range(num_block)))
        self.conv_body = conv3x3(num_feat, num_feat)
        self.bn_body = nn.BatchNorm2d(num_feat)
        self.upsample = PixelShuffleUpsampler(num_feat, scale, act=partial(nn.PReLU, prelu_params))
        self.conv_last = nn.Conv2d(num_feat, 3, 9, 1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.bn_body(self.conv_body(self.body(feat)))
        return self.conv_last(self.upsample(feat))
