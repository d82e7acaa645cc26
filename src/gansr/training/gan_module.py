"""The one GAN training step every method shares (DESIGN.md "one module, many parts").

Per iteration: ``SR = G(E(LR))``; a generator step with D frozen and a discriminator step on ``SR.detach()``
(in the order ``step_order`` names: ESRGAN/FASRGAN/Fs-SRGAN/SRGAN update G first, PESR and EDSR-GAN update D
first, docs/methods.md §3-4); schedulers stepped once; the G-only EMA updated; the module's own iteration counter
advanced (Lightning's ``global_step`` moves twice per batch with two optimizers, docs/methods.md §8.2).

The methods differ only in their parts, passed to the constructor:

=================  ==========================================================================================
part               what it switches
=================  ==========================================================================================
objective          the GAN objective on D's global logits (vanilla, relativistic average, relativistic standard)
discriminator      returns logits (B,1), or ``(logits (B,1), map (B,C,H,W))`` for FASRGAN's UNet; with a map, the
                   per-pixel BCE term of FASRGAN (``adversarial_map_weight``, docs/methods.md §1.4 step 6) is added
attention          FASRGAN's fine-grained attention loss on the map (docs/methods.md §1.4, attention term); needs a map
mask               mask-aided training: D sees ``SR * mask`` (docs/methods.md §7); computed once per iteration, no grad
extractor          Fs-SRGAN's shared E: ``G'(E(LR))`` and ``D'(E(x))``; owned by both optimizers (docs/methods.md §1.5)
=================  ==========================================================================================
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from gansr.training.sr_module import SRModule

STEP_ORDERS = ("g_first", "d_first")


def split_discriminator_output(output) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``D(x)`` is either logits (B,1) or ``(logits (B,1), map_logits (B,C,H,W))`` (FASRGAN UNet)."""
    if isinstance(output, tuple):
        logits, map_logits = output
        return logits, map_logits
    return output, None


class GANModule(SRModule):
    """Adversarial SR training with manual optimisation and two optimizers.

    Args:
        generator, extractor, scale, generator_init, ema_decay, val_metrics, on_nonfinite: see :class:`SRModule`.
        discriminator: D (or D' on E's features when ``extractor`` is given).
        objective: GAN objective with ``generator_loss(real, fake)`` / ``discriminator_loss(real, fake)`` on logits
            and a class attribute ``uses_real_in_generator_step`` (False for the non-saturating vanilla G loss, so D is not
            forwarded on HR in the G step, as in SRGAN/EDSR).
        pixel_loss, perceptual_loss, tv_loss: weighted generator losses on the unmasked SR (or None).
        adversarial_weight: weight of ``objective.generator_loss`` (5e-3 ESRGAN, 1e-3 SRGAN, ...).
        map_objective: FASRGAN's per-pixel BCE on D's map (``PixelMapGAN``); used when D returns a map.
        adversarial_map_weight: G-side weight of the map term (FASRGAN ``gan_mask_weight`` 5e-3); D side weight 1.
        attention: ``FineGrainedAttentionLoss`` or None.
        mask: ``ErrorMask`` or None.
        step_order: "g_first" or "d_first".
        fp32_sr: compute ``SR = G(E(LR))`` and the mask outside autocast, in fp32, under ``trainer.precision=bf16-mixed``
            (the losses and D still autocast). On for the [0,255] mask rows of PESR and EDSR-GAN: bf16 moves their
            output by about 1.2 grey levels, the size of the mask's saturation point (docs/methods.md §7, "Precision").
        optimizer_g, optimizer_d: partial ``params -> Optimizer``.
        scheduler_g, scheduler_d: partial ``optimizer -> LRScheduler`` (stepped once per iteration) or None.
    """

    optimizer_steps_per_iteration = 2
    optimizer_names = ("G", "D")

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        objective: nn.Module,
        optimizer_g: Callable,
        optimizer_d: Callable,
        *,
        scheduler_g: Callable | None = None,
        scheduler_d: Callable | None = None,
        pixel_loss: nn.Module | None = None,
        perceptual_loss: nn.Module | None = None,
        tv_loss: nn.Module | None = None,
        adversarial_weight: float = 5e-3,
        map_objective: nn.Module | None = None,
        adversarial_map_weight: float = 0.0,
        attention: nn.Module | None = None,
        mask: nn.Module | None = None,
        extractor: nn.Module | None = None,
        step_order: str = "g_first",
        fp32_sr: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(generator, extractor, **kwargs)
        if step_order not in STEP_ORDERS:
            raise ValueError(f"step_order must be one of {STEP_ORDERS}, got {step_order!r}")
        self.discriminator = discriminator
        self.objective = objective
        self.pixel_loss = pixel_loss
        self.perceptual_loss = perceptual_loss
        self.tv_loss = tv_loss
        self.adversarial_weight = adversarial_weight
        self.map_objective = map_objective
        self.adversarial_map_weight = adversarial_map_weight
        self.attention = attention
        self.mask = mask
        self.step_order = step_order
        self.fp32_sr = fp32_sr
        self.optimizer_factories = (optimizer_g, optimizer_d)
        self.batch_real_fake = False  # speed.batch_real_fake (gansr.training.speed): one D forward on cat(real, fake)
        self.scheduler_factories = (scheduler_g, scheduler_d)

    # ------------------------------------------------------------------ parts
    def discriminate(self, x: torch.Tensor):
        """``D(x)``, or ``D'(E(x))`` with a shared extractor (Fs-SRGAN: E runs on HR-size images)."""
        extractor = self.step_network("extractor")
        return self.step_network("discriminator")(extractor(x) if extractor is not None else x)

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """D (and E when shared): what the discriminator optimizer owns (docs/methods.md §1.5)."""
        params = list(self.discriminator.parameters())
        if self.extractor is not None:
            params = list(self.extractor.parameters()) + params
        return params

    def configure_optimizers(self):
        factory_g, factory_d = self.optimizer_factories
        optimizers = [factory_g(self.generator_parameters()), factory_d(self.discriminator_parameters())]
        schedulers = [f(o) for f, o in zip(self.scheduler_factories, optimizers) if f is not None]
        return optimizers, schedulers

    def discriminator_inputs(self, sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor | None):
        """``(fake, real)`` as D sees them: ``SR * mask`` and HR (or ``HR * mask``), docs/methods.md §7.1 rows 4-5
        (:meth:`gansr.training.mask.ErrorMask.masked_inputs`)."""
        return (sr, hr) if mask is None else self.mask.masked_inputs(sr, hr, mask)

    # ------------------------------------------------------------------ losses
    def generator_losses(self, sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Weighted generator terms, keyed by name (logged as ``train/g/<name>``)."""
        terms: dict[str, torch.Tensor] = {}
        if self.pixel_loss is not None:
            terms["pixel"] = self.pixel_loss(sr, hr)
        if self.perceptual_loss is not None:
            terms["perceptual"] = self.perceptual_loss(sr, hr)
        if self.tv_loss is not None:
            terms["tv"] = self.tv_loss(sr)
        fake_in, real_in = self.discriminator_inputs(sr, hr, mask)
        fake_logits, fake_map = split_discriminator_output(self.discriminate(fake_in))
        real_logits = real_map = None
        if self.objective.uses_real_in_generator_step or (fake_map is not None and self.map_objective is not None):
            with torch.no_grad():  # the real branch carries no gradient in the G step (docs/methods.md §1.4, 1.5, 2.4)
                real_logits, real_map = split_discriminator_output(self.discriminate(real_in))
        terms["adversarial"] = self.adversarial_weight * self.objective.generator_loss(real_logits, fake_logits)
        if fake_map is not None and self.map_objective is not None and self.adversarial_map_weight > 0:
            terms["adversarial_map"] = self.adversarial_map_weight * self.map_objective.generator_loss(real_map, fake_map)
        if self.attention is not None:
            if fake_map is None:
                raise ValueError("attention needs a discriminator that returns a per-pixel map (e.g. discriminator=unet)")
            terms["attention"] = self.attention(sr, hr, fake_map)
        return terms

    def discriminator_losses(self, sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """D terms on ``sr`` (already detached): global objective + FASRGAN's map term (weight 1, docs/methods.md §1.4)."""
        fake_in, real_in = self.discriminator_inputs(sr, hr, mask)
        if self.batch_real_fake:  # one forward; only without BatchNorm in D/E unless forced (speed.batch_real_fake)
            both = split_discriminator_output(self.discriminate(torch.cat([real_in, fake_in])))
            (real_logits, fake_logits), (real_map, fake_map) = [
                (None, None) if t is None else t.chunk(2) for t in both
            ]
        else:
            real_logits, real_map = split_discriminator_output(self.discriminate(real_in))
            fake_logits, fake_map = split_discriminator_output(self.discriminate(fake_in))
        terms = {"adversarial": self.objective.discriminator_loss(real_logits, fake_logits)}
        if fake_map is not None and self.map_objective is not None:
            terms["adversarial_map"] = self.map_objective.discriminator_loss(real_map, fake_map)
        self.log_on_logging_iteration({"train/d/real_logit": real_logits.mean(), "train/d/fake_logit": fake_logits.mean()})
        return terms

    # ------------------------------------------------------------------ steps
    def generator_step(self, optimizer, sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor | None) -> None:
        """G (and E) step with D frozen: D's parameters get no gradient; E, owned by both optimizers, stays trainable.
        (Lightning's ``toggle_optimizer`` would walk every parameter of both optimizers twice per step.)"""
        frozen = [p for p in self.discriminator.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            self.step_optimizer(optimizer, self.generator_losses(sr, hr, mask), self.generator_parameters(), "g")
        finally:
            for p in frozen:
                p.requires_grad_(True)

    def discriminator_step(self, optimizer, sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor | None) -> None:
        """D (and E) step on the detached SR: no gradient can reach G."""
        self.step_optimizer(optimizer, self.discriminator_losses(sr.detach(), hr, mask), self.discriminator_parameters(), "d")

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        lr, hr = batch["lr"], batch["hr"]
        # fp32_sr leaves autocast for SR and the mask; a device without autocast (meta: FLOP counting) has none to leave
        fp32 = self.fp32_sr and torch.amp.is_autocast_available(lr.device.type)
        with torch.autocast(lr.device.type, enabled=False) if fp32 else contextlib.nullcontext():
            sr = self.training_forward(lr)  # the batch's own dtype: fp32 under bf16-mixed, float64 under 64-true
            mask = self.mask(sr.detach(), hr) if self.mask is not None else None
        if self.step_order == "g_first":
            self.generator_step(opt_g, sr, hr, mask)
            self.discriminator_step(opt_d, sr, hr, mask)
        else:
            self.discriminator_step(opt_d, sr, hr, mask)
            self.generator_step(opt_g, sr, hr, mask)
        self.finish_iteration()
