"""PSNR-oriented pre-training: one optimizer, pixel loss only (ESRGAN Sec. 3.4 / docs/methods.md §2.5; Fs-SRGAN's
E+G' pre-training, docs/methods.md §1.5; EDSR and PESR L1 stages, docs/methods.md §3-4)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gansr.training.sr_module import SRModule


class PSNRModule(SRModule):
    """``L = pixel_loss(G(E(lr)), hr)`` stepped by one optimizer; G and E (when shared) are trained jointly.

    Args:
        generator, extractor, scale, generator_init, ema_decay, val_metrics: see :class:`SRModule`.
        pixel_loss: e.g. ``PixelLoss(weight=1, criterion="l1")``.
        optimizer: partial ``params -> Optimizer`` (Hydra ``_partial_: true``).
        scheduler: partial ``optimizer -> LRScheduler`` stepped once per iteration, or None.
    """

    def __init__(
        self,
        generator: nn.Module,
        pixel_loss: nn.Module,
        optimizer: Callable,
        scheduler: Callable | None = None,
        extractor: nn.Module | None = None,
        **kwargs,
    ) -> None:
        super().__init__(generator, extractor, **kwargs)
        self.pixel_loss = pixel_loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.generator_parameters())
        if self.scheduler_factory is None:
            return optimizer
        return [optimizer], [self.scheduler_factory(optimizer)]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        optimizer = self.optimizers()
        sr = self.training_forward(batch["lr"])
        loss = self.pixel_loss(sr, batch["hr"])
        self.step_optimizer(optimizer, {"pixel": loss}, self.generator_parameters(), "g")
        self.finish_iteration()
        return loss.detach()
