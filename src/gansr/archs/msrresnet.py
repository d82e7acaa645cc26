"""MSRResNet, the "modified SRResNet" of BasicSR (``basicsr/archs/srresnet_arch.py``): SRResNet (Ledig et al.,
"Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network", CVPR 2017) without batch
normalisation, with LeakyReLU(0.1) and a bilinear image skip - the PSNR baseline BasicSR and the ESRGAN paper's
code base train first. Here so that BasicSR's MSRResNet weights run in gansr; no paper preset trains it.

BasicSR's key names map to this module's (:mod:`gansr.utils.checkpoint`): ``body.N.conv1``/``conv2`` ->
``body.N.body.0``/``body.N.body.2`` (:class:`~gansr.archs.blocks.ResBlock`), ``upconv1``/``upconv2`` ->
``upsample.0``/``upsample.3``; ``conv_first``, ``conv_hr`` and ``conv_last`` keep theirs.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from gansr.archs.blocks import PixelShuffleUpsampler, ResBlock, conv3x3, default_init_weights


class MSRResNet(nn.Module):
    """conv_first + LeakyReLU(0.1) -> num_block ResBlocks (no BN, no long skip) -> [conv F->4F, PixelShuffle 2,
    LeakyReLU(0.1)] x log2(scale) (one F->9F, PixelShuffle 3 stage for x3) -> conv_hr + LeakyReLU(0.1) ->
    conv_last, plus the bilinear up-scaling of the input (``align_corners=False``). No clamp.

    Init: kaiming-normal x 0.1 on every conv, biases 0 (BasicSR's ``default_init_weights(..., 0.1)``).

    Args:
        in_channels: input channels (3).
        out_channels: output channels (3); must equal ``in_channels`` for the image skip.
        num_feat: trunk width (64).
        num_block: residual blocks (16).
        scale: 2, 3 or 4 (BasicSR's choices; powers of two above work the same way).

    Shape: ``(B,in_channels,h,w) -> (B,out_channels,scale*h,scale*w)``.
    Parameters: 1,517,571 at the defaults, x4.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_block: int = 16,
                 scale: int = 4) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError(f"MSRResNet adds the bilinear input to its output: in_channels ({in_channels}) must equal "
                             f"out_channels ({out_channels})")
        self.scale = scale
        self.conv_first = conv3x3(in_channels, num_feat)
        self.body = nn.Sequential(*(ResBlock(num_feat) for _ in range(num_block)))
        self.upsample = PixelShuffleUpsampler(num_feat, scale, act=partial(nn.LeakyReLU, 0.1, True))
        self.conv_hr = conv3x3(num_feat, num_feat)
        self.conv_last = conv3x3(num_feat, out_channels)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        default_init_weights(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.upsample(self.body(self.lrelu(self.conv_first(x))))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=float(self.scale), mode="bilinear", align_corners=False)
