"""ESRGAN's VGG-style discriminator (Wang et al., ESRGAN, ECCVW 2018; docs/methods.md §2.3).

Official code: [BSR] ``basicsr/archs/discriminator_arch.py::VGGStyleDiscriminator`` (key names used here, no conv
biases before BN); old arch [BSR-2019]/[FA] ``models/modules/architecture.py::Discriminator_VGG_128`` (same
layers with conv biases) and ``Discriminator_VGG_96``/``_192`` (the same pattern for other sizes).
"""

from __future__ import annotations

import torch
from torch import nn

from gansr.archs.blocks import check_input_size, default_init_weights


class VGGStyleDiscriminator(nn.Module):
    """conv0_0 (3x3, bias, LReLU) -> conv0_1 (4x4 s2) + BN -> stages i>=1 of [conv{i}_0 3x3 + BN, conv{i}_1 4x4 s2
    + BN], all LeakyReLU(0.2) -> flatten -> linear1 (->100) -> LReLU -> linear2 (->1).

    Channels per stage: num_feat x (1, 2, 4, 8, 8, 8, ...). Stages: five stride-2 stages (ESRGAN 128 -> 4x4), plus
    one more per halving while the map is still larger than 4x4 and even: 256 -> 6 stages (BasicSR's 256
    variant, 4x4), 192 -> 6 stages (Discriminator_VGG_192, 3x3), 96 -> 5 stages (Discriminator_VGG_96, 3x3).
    ``input_size`` must be a multiple of 32; tiny tests use 32 (1x1 map).

    Init: kaiming-normal x1, biases 0, BN 1/0 ([BSR-2019]/[FA] ``define_D``).

    Args:
        in_channels: input channels (3 for images, 64 for features).
        num_feat: channels of the first stage (64).
        input_size: the only accepted input height/width (HR patch size; 128 in ESRGAN).
        conv_bias: biases on the convs before BN (False as BasicSR; True as the old arch, +2,880 at 128).

    Shape: ``(B,in_channels,input_size,input_size) -> (B,1)`` logits. 14,499,401 parameters at 128 (no bias).
    """

    def __init__(
        self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128, conv_bias: bool = False
    ) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"{type(self).__name__}: input_size must be a multiple of 32, got {input_size}")
        self.input_size = input_size
        self.num_stages, final = 5, input_size // 32
        while final > 4 and final % 2 == 0:
            self.num_stages, final = self.num_stages + 1, final // 2
        channels = [num_feat * min(2**i, 8) for i in range(self.num_stages)]

        self.conv0_0 = nn.Conv2d(in_channels, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=conv_bias)
        self.bn0_1 = nn.BatchNorm2d(num_feat)
        for i in range(1, self.num_stages):
            self.add_module(f"conv{i}_0", nn.Conv2d(channels[i - 1], channels[i], 3, 1, 1, bias=conv_bias))
            self.add_module(f"bn{i}_0", nn.BatchNorm2d(channels[i]))
            self.add_module(f"conv{i}_1", nn.Conv2d(channels[i], channels[i], 4, 2, 1, bias=conv_bias))
            self.add_module(f"bn{i}_1", nn.BatchNorm2d(channels[i]))
        self.linear1 = nn.Linear(channels[-1] * final * final, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        default_init_weights(self, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x, self.input_size)
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for i in range(1, self.num_stages):
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        return self.linear2(self.lrelu(self.linear1(feat.flatten(1))))
