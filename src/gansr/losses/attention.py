"""FASRGAN fine-grained attention loss (docs/methods.md §1.4, attention term; [FA] ``models/FASRGAN_model.py``).

The UNet discriminator's per-pixel map on SR, ``M_f = sigmoid(map_fake)``, says where SR already looks real;
pixels it finds fake (small ``M_f``) get a larger L1 weight ``1 − M_f``. The weight is detached: the
attention loss trains G only and sends no gradient into D.

:func:`attention_weights` is that weight, shared by the loss and by ``gansr.analysis`` (which shows it next to
SR crops), so the two cannot drift apart.
"""

from __future__ import annotations

import torch
from torch import nn


def attention_weights(map_logits: torch.Tensor) -> torch.Tensor:
    """FASRGAN's per-pixel attention weight ``1 − sigmoid(C_m^f)``, detached (docs/methods.md §1.4, attention term).

    Shape: map logits ``(B,C,H,W)`` (the UNet's score map on SR, C = 3 in FASRGAN) -> same shape, values in
    [0,1], no gradient. Large where D finds the pixel fake.
    """
    return (1 - torch.sigmoid(map_logits)).detach()


class FineGrainedAttentionLoss(nn.Module):
    """``weight * mean_{b,c,h,w}[(1 − sigmoid(map_fake)).detach() ⊙ |sr − hr|]``.

    Shapes: sr, hr ``(B,C,H,W)``; fake_map_logits ``(B,C,H,W)`` or ``(B,1,H,W)`` (broadcast over channels)
    -> scalar (already weighted). FASRGAN and FA+Fs-SRGAN: weight 1e-2 (paper; the FASRGAN json has 5e-2),
    3-channel map.
    """

    def __init__(self, weight: float = 1e-2) -> None:
        super().__init__()
        self.weight = float(weight)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, fake_map_logits: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(
                f"FineGrainedAttentionLoss needs sr and hr of the same shape, got {tuple(sr.shape)} and "
                f"{tuple(hr.shape)}"
            )
        m = fake_map_logits
        if (
            m.ndim != 4
            or m.shape[0] != sr.shape[0]
            or m.shape[2:] != sr.shape[2:]
            or m.shape[1] not in (1, sr.shape[1])
        ):
            raise ValueError(
                f"FineGrainedAttentionLoss: map logits {tuple(m.shape)} do not broadcast to SR {tuple(sr.shape)}; "
                f"the discriminator map needs shape (B,{sr.shape[1]} or 1,H,W) matching the SR patch "
                f"(set the UNet discriminator out_channels to {sr.shape[1]} and input_size to the HR patch size)"
            )
        return self.weight * (attention_weights(m) * (sr - hr).abs()).mean()

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
