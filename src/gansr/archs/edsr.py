"""EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution", CVPRW 2017;
docs/methods.md §4) - also the PESR generator (Vu et al., "Perception-Enhanced Image Super-Resolution via Relativistic
Generative Adversarial Networks", ECCVW 2018; docs/methods.md §3).

Official code: [EDSR] ``src/model/edsr.py``, ``src/model/common.py`` (key names used here: ``sub_mean``,
``head.0``, ``body.{i}.body.{0,2}``, ``body.{R}``, ``tail.0.{0,2,..}``, ``tail.1``, ``add_mean``);
[PESR] ``model/pesr.py::Generator`` (same topology, keys ``embed``/``upsample`` - mapped by
:mod:`gansr.utils.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gansr.archs.blocks import MeanShift, PixelShuffleUpsampler, ResBlock, conv3x3
from gansr.utils.checkpoint import CheckpointMismatchError, read_state_dict


class EDSR(nn.Module):
    """sub_mean -> head conv3x3 -> body (num_block ResBlocks + conv3x3, + head output) -> tail (pixel-shuffle
    upsampler + conv3x3 F->3) -> add_mean. No BN, no output activation, no clamp, PyTorch default init.

    The official networks work on [0, rgb_range] values; this module keeps the [0,1] interface of gansr by
    multiplying the input by ``rgb_range`` and dividing the output by it, so official weights load unchanged.

    Presets (x4): baseline 64/16/1.0 (1,517,571 trainable parameters), EDSR paper 256/32/0.1 (43,089,923),
    PESR 256/32/0.1 with ``trainable_mean_shift=True`` (the same + the 24 mean-shift tensors).

    Args:
        num_feat: trunk width F.
        num_block: residual blocks R.
        res_scale: residual scaling inside the blocks.
        scale: 2, 3, 4 (or a power of two).
        rgb_range: value range the official weights expect (255).
        trainable_mean_shift: leave the mean-shift convs trainable (PESR / older EDSR quirk, docs/methods.md §3, 4).

    Shape: ``(B,3,h,w) -> (B,3,scale*h,scale*w)``, values in [0,1] (not clamped).
    """

    def __init__(
        self,
        num_feat: int = 64,
        num_block: int = 16,
        res_scale: float = 1.0,
        scale: int = 4,
        rgb_range: float = 255.0,
        trainable_mean_shift: bool = False,
    ) -> None:
        super().__init__()
        self.rgb_range = rgb_range
        self.sub_mean = MeanShift(rgb_range, sign=-1, trainable=trainable_mean_shift)
        self.head = nn.Sequential(conv3x3(3, num_feat))
        self.body = nn.Sequential(
            *(ResBlock(num_feat, res_scale) for _ in range(num_block)), conv3x3(num_feat, num_feat)
        )
        self.tail = nn.Sequential(PixelShuffleUpsampler(num_feat, scale), conv3x3(num_feat, 3))
        self.add_mean = MeanShift(rgb_range, sign=1, trainable=trainable_mean_shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(self.sub_mean(x * self.rgb_range))
        feat = feat + self.body(feat)
        return self.add_mean(self.tail(feat)) / self.rgb_range


@dataclass
class PartialLoad:
    """What :func:`load_x2_into_x4` did: tensor names in gansr/EDSR naming."""

    loaded: list[str]
    skipped: list[str]  # checkpoint tensors not copied (tail tensors of another shape or unknown to the model)
    kept: list[str]  # model tensors left as initialised (tail tensors the checkpoint does not provide)


def load_x2_into_x4(model_x4: EDSR, state_dict_x2: Mapping[str, torch.Tensor] | str | Path) -> PartialLoad:
    """Initialise an x4 EDSR from x2 weights the way [EDSR] ``EDSR.load_state_dict`` does (``src/demo.sh``:
    "EDSR baseline model (x4) - from EDSR baseline model (x2)").

    Every tensor whose name and shape match is copied (head, body, and the tail tensors that happen to match:
    ``tail.0.0`` F->4F and ``tail.1``); tail tensors that do not fit are skipped, so the second x4 up-sampling
    conv ``tail.0.2`` keeps its fresh init. A mismatch outside the tail raises :class:`CheckpointMismatchError`.

    Args:
        model_x4: the x4 network to fill (changed in place).
        state_dict_x2: a state dict, checkpoint dict or file in EDSR, PESR or gansr naming.

    Returns:
        the names loaded, skipped (from the checkpoint) and kept at init (in the model).
    """
    source = read_state_dict(state_dict_x2)
    own = model_x4.state_dict()
    report = PartialLoad(loaded=[], skipped=[], kept=[])
    problems = []
    for name, tensor in source.items():
        if name in own and own[name].shape == tensor.shape:
            report.loaded.append(name)
        elif name.startswith("tail."):
            report.skipped.append(name)
        else:
            shape = tuple(own[name].shape) if name in own else "absent"
            problems.append(f"{name}: checkpoint {tuple(tensor.shape)} vs model {shape}")
    report.kept = [name for name in own if name not in report.loaded]
    problems += [f"{name}: missing in checkpoint" for name in report.kept if not name.startswith("tail.")]
    if problems:
        raise CheckpointMismatchError(
            f"x2 weights do not fit {type(model_x4).__name__} outside the tail: {'; '.join(problems[:4])}"
            + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else "")
        )
    with torch.no_grad():
        for name in report.loaded:
            own[name].copy_(source[name])
    return report
