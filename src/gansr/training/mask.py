"""Error mask for mask-aided adversarial training (Jiang et al. 2023; docs/methods.md §7, 7.1).

``mask = clip(k · E[(error_scale · (SR − HR))²] + b, 0, 1)``, computed under ``torch.no_grad`` (a weighting,
not a loss: no gradient reaches G through the mask). The discriminator then sees ``SR · mask`` in both the
G and the D step, and ``HR · mask`` as its real input (``apply_to_real``, default True: with an unmasked HR the
mask's dimming alone tells D which input is fake; docs/methods.md, "The mask's real input"). Pixel, perceptual and TV losses use the
unmasked SR (docs/methods.md §7.1 rows 3–6).

``error_scale`` puts the error in the baseline's native units (docs/methods.md §7.1 row 2): 1 for ESRGAN (its code
works on [0,1]; the mask stays near 0.5, at most 0.7), 255 for PESR and EDSR-GAN (their code works on [0,255];
the mask is 0.5 at zero error and saturates at 1 above about 1.6 grey levels with k=0.2, b=0.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ErrorMask:
    """Per-region error mask: ``mask = ErrorMask(...)(sr, hr)``.

    Shapes: sr, hr ``(B,C,H,W)`` -> mask ``(B,1,H,W)`` (``reduction="pixel"``: squared error averaged over the
    colour channels, broadcast to R, G, B) or ``(B,C,H,W)`` (``"channel"``).

    A parameter-free callable, deliberately not an ``nn.Module``: ``nn.Module.apply(fn)`` is the recursive
    init hook that a parent's ``.apply(init_fn)`` calls on every child, and ``apply(sr, hr)`` here would break it.

    Args:
        k, b: slope and offset (paper: 0.2 and 0.5 in all experiments).
        error_scale: multiplies ``SR − HR`` before squaring (1 for [0,1] baselines, 255 for [0,255] ones).
        reduction: ``"pixel"`` (default, docs/methods.md §7.1 row 1) or ``"channel"``.
        window: odd size of a local box average of the squared error (1 = none); the paper speaks of
            "regions". Padding is by reflection, so H and W must exceed ``window // 2``.
        apply_to_real: also multiply HR by the mask (default True; the paper names only SR, but with HR unmasked
            D can tell fake from real by the mask's dimming alone: docs/methods.md, "The mask's real input").
    """

    REDUCTIONS = ("pixel", "channel")

    def __init__(
        self,
        k: float = 0.2,
        b: float = 0.5,
        error_scale: float = 1.0,
        reduction: str = "pixel",
        window: int = 1,
        apply_to_real: bool = True,
    ) -> None:
        if reduction not in self.REDUCTIONS:
            raise ValueError(f"ErrorMask reduction must be one of {self.REDUCTIONS}, got {reduction!r}")
        if window < 1 or window % 2 == 0:
            raise ValueError(f"ErrorMask window must be an odd integer >= 1, got {window}")
        self.k, self.b, self.error_scale = float(k), float(b), float(error_scale)
        self.reduction, self.window, self.apply_to_real = reduction, int(window), bool(apply_to_real)

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape or sr.ndim != 4:
            raise ValueError(
                f"ErrorMask needs sr and hr of the same (B,C,H,W) shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
            )
        err = (self.error_scale * (sr - hr)).square()
        if self.reduction == "pixel":
            err = err.mean(dim=1, keepdim=True)
        if self.window > 1:
            pad = self.window // 2
            if min(err.shape[-2:]) <= pad:
                raise ValueError(
                    f"ErrorMask window {self.window} needs images larger than {pad} px, got {tuple(sr.shape[-2:])}"
                )
            err = F.avg_pool2d(F.pad(err, (pad, pad, pad, pad), mode="reflect"), self.window, stride=1)
        return (self.k * err + self.b).clamp(0.0, 1.0)

    def masked_inputs(self, sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> ``(sr * mask, hr or hr * mask)``: the discriminator's fake and real inputs for a given ``mask``.

        The one place D's inputs are masked: ``GANModule.discriminator_inputs`` calls it with the mask computed
        once per iteration, so the G and the D step see the same mask. ``sr * mask`` keeps SR's graph (G's
        gradient is scaled per pixel by the mask); with ``apply_to_real=False`` the returned HR is the very same
        tensor object that was passed in, else ``hr * mask`` (the same mask).
        """
        return sr * mask, (hr * mask if self.apply_to_real else hr)

    def apply(self, sr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> ``(sr * mask, hr or hr * mask, mask)``: the mask of ``(sr, hr)`` and :meth:`masked_inputs`."""
        mask = self(sr, hr)
        return (*self.masked_inputs(sr, hr, mask), mask)

    def __repr__(self) -> str:
        return (
            f"ErrorMask(k={self.k}, b={self.b}, error_scale={self.error_scale}, reduction={self.reduction!r}, "
            f"window={self.window}, apply_to_real={self.apply_to_real})"
        )
