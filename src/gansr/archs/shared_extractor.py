"""Fs-SRGAN shared feature extractor E (Yan et al., FASRGAN/Fs-SRGAN, IEEE TMM 2021; METHODS.md 1.5, 1.6).

Official code: [FA] ``models/modules/architecture.py::model_ex`` built by ``models/networks.py::define_E``.
Old checkpoints (``model.0``/``model.1.sub...``, including the nb=1 unwrapped form, METHODS.md 1.9 #8) load
through :func:`gansr.utils.checkpoint.load_generator_weights`.
"""

from __future__ import annotations

import torch
from torch import nn

from gansr.archs.blocks import RRDB, conv3x3, default_init_weights


class SharedExtractor(nn.Module):
    """conv_first (3x3, no activation) -> ``feat + body(feat)`` with body = num_block x RRDB.

    Unlike RRDBNet there is no trunk conv after the RRDBs (commented out in ``model_ex``). E is applied to LR
    images (its output feeds G') and to HR/SR images (its output feeds the discriminator D'), so it is fully
    convolutional. Init: kaiming-normal x 1, biases 0 (``define_E``).

    Args:
        in_channels: image channels (3).
        num_feat: feature channels (64); G' and D' take this many input channels.
        num_block: RRDBs (1 in Fs-SRGAN "E1G16", 2 in FA+Fs-SRGAN).
        num_grow_ch: growth channels of the dense blocks (32, hard-coded in the official code).

    Shape: ``(B,in_channels,H,W) -> (B,num_feat,H,W)``.
    Parameters: nb=1 721,216; nb=2 1,440,640 (METHODS.md 8.4).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_block: int = 1, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv_first = conv3x3(in_channels, num_feat)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        default_init_weights(self, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        return feat + self.body(feat)
