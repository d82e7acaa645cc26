"""Adversarial objectives on discriminator LOGITS (docs/methods.md §1.4, 2.4, 3, 4, 5).

Every objective is unweighted: the GAN LightningModule multiplies ``generator_loss`` by its adversarial weight
(e.g. 5e-3 for ESRGAN/FASRGAN, 1 for PESR, 0.15 for EDSR-GAN, 1e-3 for SRGAN). Discriminator losses carry
weight 1, as in every official code.

Conventions: ``BCE(x, t)`` is binary cross-entropy with logits against the constant target ``t``, mean over
all elements; ``E_b[x]`` is the mean over the mini-batch (dim 0, per position for maps).
Logits are ``(B,1)`` (global discriminators) or ``(B,C,H,W)`` (per-pixel maps, e.g. the FASRGAN UNet);
``real_logits`` and ``fake_logits`` must have the same shape. Callers pass ``real_logits`` detached in the
generator step and ``fake_logits`` computed from ``sr.detach()`` in the discriminator step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """``BCE(logits, target)`` with a constant target, mean over all elements -> scalar."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def focal_bce(logits: torch.Tensor, target: float, gamma: float) -> torch.Tensor:
    """Focal BCE as in PESR ``model/focal_loss.py``: ``mean[(1 - p_t)^gamma * BCE_elem(logits, target)]``.

    ``p = sigmoid(logits)``, ``p_t = p`` for target 1 and ``1 - p`` for target 0. The focal weight is NOT
    detached (it carries gradient, as in PESR on PyTorch 0.4, whose Python-level BCE multiplied by the weight;
    current ``F.binary_cross_entropy_with_logits`` refuses a weight that requires grad, so the product is
    written out). ``gamma = 0`` gives plain ``bce``.
    """
    t = torch.full_like(logits, target)
    p = torch.sigmoid(logits)
    p_t = p * t + (1 - p) * (1 - t)
    return ((1 - p_t).pow(gamma) * F.binary_cross_entropy_with_logits(logits, t, reduction="none")).mean()


def check_logits(real: torch.Tensor, fake: torch.Tensor, objective: str, *, maps_only: bool = False) -> None:
    """Raise a ValueError naming the objective and shapes unless real/fake are matching (B,1) or (B,C,H,W)."""
    if real.shape != fake.shape:
        raise ValueError(
            f"{objective}: real and fake logits must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}"
        )
    is_global = real.ndim == 2 and real.shape[1] == 1
    if real.ndim != 4 and (maps_only or not is_global):
        expected = "(B,C,H,W) per-pixel maps" if maps_only else "(B,1) logits or (B,C,H,W) maps"
        raise ValueError(
            f"{objective} expects {expected}, got {tuple(real.shape)}; a discriminator that returns a tuple "
            f"(UNet: global, map) must be split by the caller"
        )


class AdversarialObjective(nn.Module):
    """Interface of a GAN objective (no parameters).

    ``uses_real_in_generator_step`` tells the training step whether ``generator_loss`` reads ``real_logits``
    (if False the caller may skip forwarding D on HR in the generator step and pass ``None``).
    """

    uses_real_in_generator_step: bool = True

    def generator_loss(self, real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class VanillaGAN(AdversarialObjective):
    """Standard GAN with the non-saturating generator loss (SRGAN, EDSR-GAN; docs/methods.md §4, 5).

    G: ``BCE(fake, 1)`` (= ``-log D(G(LR))``); ``real_logits`` is not used (may be ``None``).
    D: ``BCE(real, 1) + BCE(fake, 0)`` for ``d_reduction="sum"`` (EDSR ``src/loss/adversarial.py``; also
    SRGAN-TF and BasicSR, which add the two terms), ``½[BCE(real, 1) + BCE(fake, 0)]`` for ``"mean"``.
    The two reductions differ by a constant factor 2 on D's gradient; Adam is nearly invariant to that (up to
    eps). Default ``"sum"``, as SRGAN-TF, BasicSR and EDSR-PyTorch code it.
    """

    uses_real_in_generator_step = False
    REDUCTIONS = ("mean", "sum")

    def __init__(self, d_reduction: str = "sum") -> None:
        super().__init__()
        if d_reduction not in self.REDUCTIONS:
            raise ValueError(f"VanillaGAN d_reduction must be one of {self.REDUCTIONS}, got {d_reduction!r}")
        self.d_reduction = d_reduction

    def generator_loss(self, real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(fake_logits if real_logits is None else real_logits, fake_logits, "VanillaGAN")
        return bce(fake_logits, 1.0)

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(real_logits, fake_logits, "VanillaGAN")
        total = bce(real_logits, 1.0) + bce(fake_logits, 0.0)
        return total if self.d_reduction == "sum" else 0.5 * total

    def extra_repr(self) -> str:
        return f"d_reduction={self.d_reduction!r}"


class RelativisticAverageGAN(AdversarialObjective):
    """Relativistic average GAN as coded in ESRGAN/FASRGAN/Fs-SRGAN (docs/methods.md §1.4 step 5, 2.4).

    G: ``½[BCE(real − E_b[fake], 0) + BCE(fake − E_b[real], 1)]`` (caller passes ``real`` detached). The code
    averages the two terms (×½), i.e. half the paper's sum; we follow the code that produced the weights.
    D: ``½[BCE(real − E_b[fake], 1) + BCE(fake − E_b[real], 0)]``.

    ``detach_mean_in_d``: False (default) = BSR-2019 ``SRRaGAN_model.py`` and FASRGAN, one backward with the
    batch means NOT detached, so D's gradient also flows through ``E_b[·]``. True = current BasicSR
    ``esrgan_model.py`` (DDP-safe split backward, PR #278), where each branch sees the other's mean detached.
    """

    def __init__(self, detach_mean_in_d: bool = False) -> None:
        super().__init__()
        self.detach_mean_in_d = bool(detach_mean_in_d)

    def generator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(real_logits, fake_logits, "RelativisticAverageGAN")
        real_mean, fake_mean = real_logits.mean(0, keepdim=True), fake_logits.mean(0, keepdim=True)
        return 0.5 * (bce(real_logits - fake_mean, 0.0) + bce(fake_logits - real_mean, 1.0))

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(real_logits, fake_logits, "RelativisticAverageGAN")
        real_mean, fake_mean = real_logits.mean(0, keepdim=True), fake_logits.mean(0, keepdim=True)
        if self.detach_mean_in_d:
            real_mean, fake_mean = real_mean.detach(), fake_mean.detach()
        return 0.5 * (bce(real_logits - fake_mean, 1.0) + bce(fake_logits - real_mean, 0.0))

    def extra_repr(self) -> str:
        return f"detach_mean_in_d={self.detach_mean_in_d}"


class RelativisticStandardGAN(AdversarialObjective):
    """Relativistic standard GAN with an optional focal generator loss (PESR ``train.py``; docs/methods.md §3).

    D: ``BCE(real − fake, 1)`` (no averaging of two terms).
    G: ``FocalBCE_γ(fake − real, 1) = mean[(1 − sigmoid(fake − real))^γ · BCE_elem(fake − real, 1)]``,
    focal weight not detached; PESR uses γ = 1, γ = 0 is the plain RSGAN generator loss.
    """

    def __init__(self, focal_gamma: float = 0.0) -> None:
        super().__init__()
        if focal_gamma < 0:
            raise ValueError(f"RelativisticStandardGAN focal_gamma must be >= 0, got {focal_gamma}")
        self.focal_gamma = float(focal_gamma)

    def generator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(real_logits, fake_logits, "RelativisticStandardGAN")
        return focal_bce(fake_logits - real_logits, 1.0, self.focal_gamma)

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(real_logits, fake_logits, "RelativisticStandardGAN")
        return bce(real_logits - fake_logits, 1.0)

    def extra_repr(self) -> str:
        return f"focal_gamma={self.focal_gamma}"


class PixelMapGAN(AdversarialObjective):
    """FASRGAN's per-pixel map term as coded (docs/methods.md §1.4 step 6 and D step); plain, not relativistic.

    G: ``½[BCE(real_map, 0) + BCE(fake_map, 1)]`` — the first half is a constant (real_map detached by the
    caller) kept so logged values match the official code; only ``½·BCE(fake_map, 1)`` carries gradient.
    D: ``½[BCE(real_map, 1) + BCE(fake_map, 0)]`` (weight 1 in D; FASRGAN's ``gan_mask_weight`` 5e-3 scales the
    G side only). Maps: ``(B,C,H,W)``, e.g. ``(B,3,128,128)`` from the UNet discriminator.
    """

    def generator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(real_logits, fake_logits, "PixelMapGAN", maps_only=True)
        return 0.5 * (bce(real_logits, 0.0) + bce(fake_logits, 1.0))

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        check_logits(real_logits, fake_logits, "PixelMapGAN", maps_only=True)
        return 0.5 * (bce(real_logits, 1.0) + bce(fake_logits, 0.0))
