"""Fs-SRGAN shared feature extractor E (Yan et al., FASRGAN/Fs-SRGAN, IEEE TMM 2021; docs/methods.md §1.5, 1.6).

Official code: [FA] ``models/modules/architecture.py::model_ex`` built by ``models/networks.py::define_E``.
Old checkpoints (``model.0``/``model.1.sub...``, including the nb=1 unwrapped form, docs/methods.md §1.9 #8) load
through :func:`gansr.utils.checkpoint.load_generator_weights`.

The paper's SRGAN section applies the same sharing to SRGAN ("SRGAN_Fs": "a convolution layer and a residual
block (RB) as the shared low-level feature extraction part"): ``block="srresnet"`` builds that E from SRResNet's
own head and residual block (:mod:`gansr.archs.srresnet`); ``block="resblock"`` builds it the way the official
code does (``architecture.py::model_ex_rb``: conv3x3 + BN-free ResBlocks + a trunk conv, the E of the BasicSR-era
SRGAN_Fs whose count is the paper's 1.48 M with 13 RBs in G').
"""

from __future__ import annotations

import torch
from torch import nn

from gansr.archs.blocks import RRDB, ResBlock, conv3x3, default_init_weights
from gansr.archs.srresnet import SRResNetBlock, srresnet_head

BLOCKS = ("rrdb", "srresnet", "resblock")


class SharedExtractor(nn.Module):
    """``feat = head(x)`` -> ``feat + body(feat)`` (``block="rrdb"``) or ``body(feat)`` (``"srresnet"``).

    ``block="rrdb"`` (Fs-SRGAN, FA+Fs-SRGAN): head = conv3x3 (no activation), body = num_block x RRDB with a
    skip around it and no trunk conv (commented out in ``model_ex``); init kaiming-normal x 1, biases 0
    (``define_E``). Parameters: nb=1 721,216; nb=2 1,440,640 (docs/methods.md §8.4).
    ``block="srresnet"`` (SRGAN_Fs): head = SRResNet's conv9x9 + PReLU, body = num_block SRResNet residual blocks
    (each has its own skip); PyTorch default init like SRResNet. nb=1 at 64 channels: 89,730 parameters.
    ``block="resblock"`` (SRGAN_Fs as the FASRGAN repository builds it, ``model_ex_rb`` with norm_type null):
    head = conv3x3, body = num_block x [conv3x3, ReLU, conv3x3, + input] + a trunk conv3x3, with a skip around the
    body; init kaiming-normal x 1 (``define_E``). nb=1 at 64 channels: 112,576 parameters.

    E is applied to LR images (its output feeds G') and to HR/SR images (its output feeds D'), so it is fully
    convolutional.

    Args:
        in_channels: image channels (3).
        num_feat: feature channels (64); G' and D' take this many input channels.
        num_block: blocks in the body (1 in Fs-SRGAN "E1G16" and SRGAN_Fs, 2 in FA+Fs-SRGAN).
        num_grow_ch: growth channels of the dense blocks (32, hard-coded in the official code; rrdb only).
        block: "rrdb", "srresnet" or "resblock".

    Shape: ``(B,in_channels,H,W) -> (B,num_feat,H,W)``.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_block: int = 1, num_grow_ch: int = 32,
                 block: str = "rrdb") -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"SharedExtractor block must be one of {BLOCKS}, got {block!r}")
        self.block = block
        if block == "rrdb":
            self.conv_first = conv3x3(in_channels, num_feat)
            self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
            default_init_weights(self, 1.0)
        elif block == "resblock":
            self.conv_first = conv3x3(in_channels, num_feat)
            self.body = nn.Sequential(*(ResBlock(num_feat) for _ in range(num_block)), conv3x3(num_feat, num_feat))
            default_init_weights(self, 1.0)
        else:
            self.conv_first = srresnet_head(in_channels, num_feat, prelu_params=1)
            self.body = nn.Sequential(*(SRResNetBlock(num_feat, prelu_params=1) for _ in range(num_block)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        return self.body(feat) if self.block == "srresnet" else feat + self.body(feat)
