"""SRResNet without BatchNorm as BasicSR-2018 builds it: the generator of the FASRGAN paper's "SRGAN" rows.

The FASRGAN repository (Rainyfish/FASRGAN-and-Fs-SRGAN, a BasicSR-2018 fork) trains its SRGAN with
``options/train/train_SRGAN.json`` ("Not total the same as SRGAN in <Photo-Realistic ...>"): ``which_model_G:
sr_resnet`` with ``norm_type: null``, i.e. ``models/modules/architecture.py::SRResNet`` built by
``models/networks.py::define_G`` (ReLU, pixel-shuffle up-sampling, kaiming x 0.1 init). Its 1,554,499 parameters
are the FASRGAN paper's "1.554K" for SRGAN (SRGAN section), which the SRGAN paper's SRResNet (BN, PReLU, 9x9
head and tail; :mod:`gansr.archs.srresnet`, 1,549,462) does not give. experiments/fasrgan/README.md.
"""

from __future__ import annotations

import torch
from torch import nn

from gansr.archs.blocks import PixelShuffleUpsampler, ResBlock, conv3x3, default_init_weights


class SRResNetBasicSR(nn.Module):
    """conv3x3 -> num_block x [conv3x3, ReLU, conv3x3, + input] -> conv3x3, + head output -> log2(scale) x
    [conv3x3 F->4F, PixelShuffle(2), ReLU] -> conv3x3 + ReLU -> conv3x3 F->3 (no BN, no output activation).

    Args:
        in_channels: image channels (3).
        num_feat: feature channels (64).
        num_block: residual blocks (16).
        scale: 2, 3 or a power of two.

    Init: kaiming-normal (fan_in) x 0.1, biases 0 (``define_G``: ``init_weights(netG, 'kaiming', scale=0.1)``).
    Shape: ``(B,in_channels,h,w) -> (B,3,scale*h,scale*w)``.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_block: int = 16, scale: int = 4) -> None:
        super().__init__()
        self.conv_first = conv3x3(in_channels, num_feat)
        self.body = nn.Sequential(*(ResBlock(num_feat) for _ in range(num_block)))
        self.conv_body = conv3x3(num_feat, num_feat)
        self.upsample = PixelShuffleUpsampler(num_feat, scale, act=lambda: nn.ReLU(inplace=True))
        self.conv_hr = conv3x3(num_feat, num_feat)
        self.conv_last = conv3x3(num_feat, 3)
        default_init_weights(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        return self.conv_last(torch.relu(self.conv_hr(self.upsample(feat))))
