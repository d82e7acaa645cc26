"""G-only exponential moving average (BasicSR's ``net_g_ema``; not in the papers, off in paper presets).

Lightning's built-in weight averaging would average the whole module (D and VGG too); ESRGAN-style EMA
averages the generator (and the shared extractor E, which is part of the generator path in Fs-SRGAN) only.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class GeneratorEMA(nn.Module):
    """``theta_ema <- decay * theta_ema + (1 - decay) * theta`` after every iteration; buffers are copied.

    Args:
        generator: the trained generator (copied at construction).
        extractor: the shared extractor E or None.
        decay: EMA decay, e.g. 0.999 (BasicSR ESRGAN configs).

    Shape: ``forward(lr (B,3,h,w)) -> (B,3,s*h,s*w)`` like the generator path it averages.
    """

    def __init__(self, generator: nn.Module, extractor: nn.Module | None, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.generator = copy.deepcopy(generator).requires_grad_(False).eval()
        self.extractor = copy.deepcopy(extractor).requires_grad_(False).eval() if extractor is not None else None

    @torch.no_grad()
    def update(self, generator: nn.Module, extractor: nn.Module | None) -> None:
        pairs = [(self.generator, generator)]
        if self.extractor is not None:
            pairs.append((self.extractor, extractor))
        for averaged, live in pairs:
            for p_avg, p in zip(averaged.parameters(), live.parameters()):
                p_avg.lerp_(p.detach(), 1.0 - self.decay)
            for b_avg, b in zip(averaged.buffers(), live.buffers()):
                b_avg.copy_(b)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.extractor(lr) if self.extractor is not None else lr
        return self.generator(features)

    def export(self) -> dict[str, dict[str, torch.Tensor]]:
        state = {"params_ema": {k: v.detach().cpu() for k, v in self.generator.state_dict().items()}}
        if self.extractor is not None:
            state["extractor_ema"] = {k: v.detach().cpu() for k, v in self.extractor.state_dict().items()}
        return state
