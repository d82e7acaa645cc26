"""The device-side degradation step: an HR training batch becomes an (LR, HR) batch on the training device.

The CPU workers only decode and crop HR patches; :meth:`DeviceDegradation.apply` (called from
``SRDataModule.device_transform`` after the batch reached the device) draws every random number of sample ``i``
from :func:`gansr.data.sampling.degradation_rng` of ``(seed, position_i)``: its flips, its degradation parameters
and the seed of its torch generator for the noise. So a sample's LR is a pure function of the seed and its stream
position (exact resume, any number of workers or ranks), as the CPU path's crops are.
"""
from __future__ import annotations

import numpy as np
import torch
from kornia.geometry.transform import hflip, vflip
from torch import Tensor

from gansr.data.sampling import degradation_rng
from gansr.data.transforms import random_augment_flags

__all__ = ["DeviceDegradation", "dihedral"]


def dihedral(image: Tensor, flip_h: bool, flip_v: bool, transpose: bool) -> Tensor:
    """Horizontal flip, vertical flip, then H<->W transpose of ``(B,C,H,W)`` (kornia), the same order as the CPU
    path's :func:`gansr.data.transforms.augment`."""
    if flip_h:
        image = hflip(image)
    if flip_v:
        image = vflip(image)
    if transpose:
        image = image.transpose(-1, -2)
    return image


class DeviceDegradation:
    """Base class: ``degrade((1,3,H,W) HR, rng, generator) -> (1,3,H/s,W/s) LR`` on the HR's device.

    Attributes:
        scale: the SR factor s.
        eval_lr_kind: which saved LR the validation/test sets of a run with this degradation read
            (``"bicubic"``, ``"bd"`` or ``"dn"``; see :func:`gansr.data.degradations.classic.make_degraded_lr`).
    """

    scale: int
    eval_lr_kind: str = "bicubic"

    def degrade(self, hr: Tensor, rng: np.random.Generator, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def apply(self, hr: Tensor, positions: Tensor, seed: int, augment: bool) -> tuple[Tensor, Tensor]:
        """``hr (B,3,P,P)``, ``positions (B,)`` -> ``(lr (B,3,P/s,P/s), hr (B,3,P,P))``; the flips (when ``augment``)
        are applied to HR before degrading, so the pair shares them."""
        lrs, hrs = [], []
        for i, position in enumerate(positions.tolist()):
            rng = degradation_rng(seed, int(position))
            sample = hr[i : i + 1]
            if augment:
                sample = dihedral(sample, *random_augment_flags(rng))
            generator = torch.Generator(device=sample.device)
            generator.manual_seed(int(rng.integers(0, 2**63 - 1)))
            lrs.append(self.degrade(sample, rng, generator))
            hrs.append(sample)
        return torch.cat(lrs), torch.cat(hrs)
