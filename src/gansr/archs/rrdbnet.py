"""ESRGAN generator RRDBNet (Wang et al., "ESRGAN", ECCVW 2018; docs/methods.md §1.2, 2.1).

Official code: [ESR] ``RRDBNet_arch.py`` (new arch), [BSR] ``basicsr/archs/rrdbnet_arch.py`` (key names used
here), [FA]/[BSR-2019] ``models/modules/architecture.py::RRDBNet`` (old sequential arch, same function).
Checkpoints in any of the three key schemes load through :func:`gansr.utils.checkpoint.load_generator_weights`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gansr.archs.blocks import RRDB, NearestConvUpsample, conv3x3, default_init_weights


class RRDBNet(nn.Module):
    """conv_first -> body (num_block x RRDB) -> conv_body (+ long skip) -> nearest-conv up-sampling ->
    conv_hr + LeakyReLU(0.2) -> conv_last. No output activation, no clamp.

    Up-sampling: ``log2(scale)`` stages of nearest x2 + conv + LeakyReLU (``conv_up1``, ``conv_up2``, ...), the
    old-arch rule of [FA]/[BSR-2019] (``n_upscale = log2(upscale)``): scale 4 has two stages, scale 2 one.
    (BasicSR instead pixel-unshuffles the input for x2/x1; its x2 checkpoints therefore do not load here.)

    Init: every conv (including conv_first, conv_up*, conv_hr, conv_last) is kaiming-normal (fan_in) x
    ``init_scale``, biases 0, as [BSR-2019]/[FA] ``models/networks.py::define_G`` did when training (default 0.1,
    the paper's "smaller initialisation"). BasicSR scales only the convs inside the dense blocks; use
    ``init_scale=1.0`` plus your own re-init if you need that. Pretrained weights overwrite the init anyway.

    Args:
        in_channels: input channels (3 for images; 64 for Fs-SRGAN's G', which reads the shared extractor).
        out_channels: output channels (3).
        num_feat: trunk width nf (64).
        num_block: number of RRDBs nb (23 ESRGAN/FASRGAN, 16 Fs-SRGAN G', 15 FA+Fs G').
        num_grow_ch: growth channels gc of the dense blocks (32).
        scale: up-sampling factor, a power of two (4 in all papers).
        init_scale: factor on the kaiming init of all convs.
        image_skip: "none" (ESRGAN, every paper preset) or "bicubic": add the bicubic up-scaling of the input
            to the output, so the network learns a residual (not in ESRGAN; the CPU demo uses it to beat bicubic
            within minutes). Needs ``in_channels == out_channels``.

    Shape: ``(B,in_channels,h,w) -> (B,out_channels,scale*h,scale*w)``.
    Parameters: nb=23 16,697,987; nb=17 12,381,443; in 64 nb=16 11,697,155; in 64 nb=15 10,977,731 (docs/methods.md §8.4).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        scale: int = 4,
        init_scale: float = 0.1,
        image_skip: str = "none",
    ) -> None:
        super().__init__()
        if image_skip not in ("none", "bicubic"):
            raise ValueError(f"image_skip must be 'none' or 'bicubic', got {image_skip!r}")
        if image_skip == "bicubic" and in_channels != out_channels:
            raise ValueError(f"image_skip='bicubic' needs in_channels == out_channels, got {in_channels} and {out_channels}")
        self.image_skip = image_skip
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"RRDBNet up-samples by nearest x2 stages: scale must be 2, 4, 8, ...; got {scale}")
        self.scale = scale
        self.num_upsample = int(math.log2(scale))
        self.conv_first = conv3x3(in_channels, num_feat)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = conv3x3(num_feat, num_feat)
        for i in range(1, self.num_upsample + 1):
            self.add_module(f"conv_up{i}", NearestConvUpsample(num_feat))
        self.conv_hr = conv3x3(num_feat, num_feat)
        self.conv_last = conv3x3(num_feat, out_channels)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        default_init_weights(self, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for name, module in self.named_children():  # conv_up1, conv_up2, ... in order (scriptable, unlike getattr)
            if name.startswith("conv_up"):
                feat = module(feat)
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        if self.image_skip == "bicubic":
            out = out + F.interpolate(x, scale_factor=float(self.scale), mode="bicubic", align_corners=False)
        return out
