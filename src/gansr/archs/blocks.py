"""Building blocks shared by the networks of ``gansr.archs`` (one place each).

* :func:`default_init_weights` - kaiming-normal (fan_in) x scale, biases 0, BatchNorm 1/0
  ([BSR-2019] ``codes/models/networks.py::weights_init_kaiming``; [BSR] ``basicsr/archs/arch_util.py``).
* :class:`ResidualDenseBlock`, :class:`RRDB` - ESRGAN's residual-in-residual dense block (docs/methods.md §1.2, 2.1).
* :class:`ResBlock` - EDSR/PESR residual block ``x + res_scale * conv(relu(conv(x)))`` (docs/methods.md §3, 4).
* :class:`MeanShift` - EDSR's 1x1 mean-shift convolution (docs/methods.md §3, 4).
* :class:`PixelShuffleUpsampler` - conv + PixelShuffle stages (EDSR tail, PESR, SRGAN).
* :class:`NearestConvUpsample` - nearest x2 + conv + LeakyReLU (ESRGAN's ``conv_up1``/``conv_up2``).
* :func:`conv3x3` and :func:`check_input_size` (the fixed-size discriminators' input check).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F


@torch.no_grad()
def default_init_weights(modules: nn.Module | Iterable[nn.Module], scale: float = 1.0) -> None:
    """Kaiming-normal init (``a=0``, fan_in) of every Conv2d/Linear weight, multiplied by ``scale``; biases 0.

    BatchNorm weights are set to 1 and biases to 0. ``scale=0.1`` is ESRGAN's "smaller initialisation"
    (MSRA x0.1, [BSR-2019] ``define_G``); ``scale=1`` is the discriminator / extractor init (``define_D``/``define_E``).

    Args:
        modules: a module or several; all their sub-modules are visited.
        scale: factor applied to the kaiming-initialised weights.
    """
    for module in [modules] if isinstance(modules, nn.Module) else modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def conv3x3(in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
    """3x3 convolution, stride 1, zero padding 1 (spatial size kept)."""
    return nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=bias)


class ResidualDenseBlock(nn.Module):
    """ESRGAN's ResidualDenseBlock_5C: five densely connected 3x3 convs, output ``0.2 * x5 + x``.

    conv1..conv4 map the concatenation of the input and all previous outputs (``num_feat + i*num_grow_ch``
    channels) to ``num_grow_ch`` channels, each followed by LeakyReLU(0.2); conv5 maps back to ``num_feat``
    with no activation ([FA] ``models/modules/block.py::ResidualDenseBlock_5C``; [BSR] ``rrdbnet_arch.py``).

    Args:
        num_feat: channels in and out (64).
        num_grow_ch: growth channels gc (32).

    Shape: ``(B,num_feat,H,W) -> (B,num_feat,H,W)``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = conv3x3(num_feat, num_grow_ch)
        self.conv2 = conv3x3(num_feat + num_grow_ch, num_grow_ch)
        self.conv3 = conv3x3(num_feat + 2 * num_grow_ch, num_grow_ch)
        self.conv4 = conv3x3(num_feat + 3 * num_grow_ch, num_grow_ch)
        self.conv5 = conv3x3(num_feat + 4 * num_grow_ch, num_feat)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # written out (no loop over a tuple of convs) so that torch.jit.script compiles it (docs/inference.md)
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        return self.conv5(torch.cat((x, x1, x2, x3, x4), 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three :class:`ResidualDenseBlock` then ``0.2 * out + x``.

    Args:
        num_feat: channels in and out (64).
        num_grow_ch: growth channels of the dense blocks (32).

    Shape: ``(B,num_feat,H,W) -> (B,num_feat,H,W)``.
    """

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class ResBlock(nn.Module):
    """EDSR residual block without BN: ``x + res_scale * conv(relu(conv(x)))``.

    Keys ``body.0`` and ``body.2`` as in [EDSR] ``src/model/common.py::ResBlock`` and [PESR] ``model/basic.py``.

    Args:
        num_feat: channels in and out.
        res_scale: residual scaling (1.0 EDSR baseline, 0.1 EDSR paper / PESR).

    Shape: ``(B,num_feat,H,W) -> (B,num_feat,H,W)``.
    """

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(num_feat, num_feat), nn.ReLU(inplace=True), conv3x3(num_feat, num_feat))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class MeanShift(nn.Conv2d):
    """EDSR's 1x1 convolution that subtracts (``sign=-1``) or adds (``sign=+1``) the DIV2K RGB mean.

    Weight = identity, bias = ``sign * rgb_range * mean`` ([EDSR] ``src/model/common.py::MeanShift``, std 1).
    Its two tensors are parameters (keys ``weight``/``bias`` as in the official checkpoints). Recent EDSR code
    freezes them; PESR and older EDSR set ``requires_grad`` on the *module* instead, which leaves them trainable
    (docs/methods.md §3 and 4): ``trainable=True`` reproduces that quirk.

    Args:
        rgb_range: value range of the data it sees (255 for EDSR/PESR).
        sign: -1 for ``sub_mean``, +1 for ``add_mean``.
        trainable: whether the optimizer may change the two tensors.
        rgb_mean: the mean per channel in [0,1] units (DIV2K by default).

    Shape: ``(B,3,H,W) -> (B,3,H,W)``.
    """

    DIV2K_MEAN = (0.4488, 0.4371, 0.4040)

    def __init__(
        self,
        rgb_range: float = 255.0,
        sign: int = -1,
        trainable: bool = False,
        rgb_mean: tuple[float, float, float] = DIV2K_MEAN,
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))
        self.requires_grad_(trainable)


class PixelShuffleUpsampler(nn.Sequential):
    """Sub-pixel up-sampling: ``log2(scale)`` stages of [conv3x3 F->4F, PixelShuffle(2), act], or one
    [conv3x3 F->9F, PixelShuffle(3), act] stage for ``scale=3``.

    [EDSR] ``src/model/common.py::Upsampler`` (no activation; keys ``0``, ``2`` for x4), SRGAN (PReLU after each
    shuffle, docs/methods.md §5), PESR ``upsample`` (docs/methods.md §3).

    Args:
        num_feat: channels F in and out.
        scale: 2, 3 or a power of two.
        act: factory called once per stage for the activation after the shuffle, or None.

    Shape: ``(B,F,H,W) -> (B,F,scale*H,scale*W)``.
    """

    def __init__(self, num_feat: int, scale: int, act: Callable[[], nn.Module] | None = None) -> None:
        if scale == 3:
            factors = [3]
        elif scale >= 2 and scale & (scale - 1) == 0:
            factors = [2] * int(math.log2(scale))
        else:
            raise ValueError(f"PixelShuffleUpsampler supports scale 2, 3, 4, 8, ...; got {scale}")
        layers: list[nn.Module] = []
        for factor in factors:
            layers += [conv3x3(num_feat, factor * factor * num_feat), nn.PixelShuffle(factor)]
            if act is not None:
                layers.append(act())
        super().__init__(*layers)


class NearestConvUpsample(nn.Conv2d):
    """ESRGAN up-sampling stage: nearest x2, conv3x3 F->F, LeakyReLU(0.2).

    A ``Conv2d`` subclass so that its tensors keep the flat official names (``conv_up1.weight``);
    [ESR] ``RRDBNet_arch.py``, [BSR] ``rrdbnet_arch.py``, old arch ``B.upconv_blcok`` (docs/methods.md §1.2).

    Args:
        num_feat: channels F in and out.

    Shape: ``(B,F,H,W) -> (B,F,2H,2W)``.
    """

    def __init__(self, num_feat: int = 64) -> None:
        super().__init__(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # _conv_forward rather than super().forward: torch.jit.script compiles it
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.leaky_relu(self._conv_forward(up, self.weight, self.bias), 0.2)


def check_input_size(network: nn.Module, x: torch.Tensor, size: int) -> None:
    """Raise a ValueError unless ``x`` is ``(B,C,size,size)``: for discriminators whose FC layer fixes the size."""
    if x.dim() != 4 or x.shape[-2:] != (size, size):
        raise ValueError(
            f"{type(network).__name__} expects {size}x{size} inputs, got {'x'.join(map(str, x.shape[-2:]))} "
            f"(shape {tuple(x.shape)}); set data.patch_size={size} (HR) or use a discriminator built for this size"
        )
