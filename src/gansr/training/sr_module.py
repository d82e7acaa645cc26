"""The part every SR training stage shares: generator (+ optional shared extractor), the iteration counter,
manual scheduler stepping, generator initialisation, G-only EMA and validation with PSNR/SSIM on Y.

Both training stages (``PSNRModule``: one optimizer; ``GANModule``: two) derive from :class:`SRModule`, so
validation, checkpoint bookkeeping and weight export exist once.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import nn

from gansr.archs.edsr import EDSR, load_x2_into_x4
from gansr.metrics import build_metrics, quantize
from gansr.training.checkpointing import rng_state, set_rng_state
from gansr.training.divergence import POLICIES, DeferredFiniteCheck, check_finite
from gansr.training.ema import GeneratorEMA
from gansr.utils.checkpoint import (
    CheckpointMismatchError,
    load_generator_weights,
    read_state_dict,
    safe_load,
)


def _metric_key(name: str) -> str:
    """ModuleDict keys may not contain '.'; dataset names such as 'DIV2K.val' are made safe."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


class SRModule(pl.LightningModule):
    """Base LightningModule: ``lr (B,3,h,w) -> sr (B,3,s*h,s*w)`` through ``generator(extractor(lr))``.

    Args:
        generator: the SR network. With a shared extractor it takes the extractor's features (Fs-SRGAN's G').
        extractor: Fs-SRGAN's shared feature extractor E (docs/methods.md §1.5) or None.
        scale: up-scaling factor (validation border crop = scale, docs/methods.md §1.8).
        generator_init: checkpoint to start from: a gansr Lightning checkpoint (its generator, extractor and
            EMA weights are taken) or any generator file the converter understands (official ESRGAN, BasicSR,
            FASRGAN old-arch keys; docs/methods.md §2.2).
        generator_init_scale: the scale of the ``generator_init`` model when it differs from ``scale``: EDSR-PyTorch's
            x4-from-x2 start (``src/demo.sh``; the mask paper's EDSR-GAN), EDSR/PESR generators only: every tensor
            that fits is copied, the up-sampler tensors that do not keep their fresh init
            (:func:`gansr.archs.edsr.load_x2_into_x4`). None = the same scale, every tensor must fit.
        ema_decay: G-only exponential moving average (BasicSR; not in the papers). None = off.
        val_metrics: metric names computed per validation set (``gansr.metrics.build_metrics``).
        on_nonfinite: "stop" (default) raises on a NaN/Inf loss or gradient naming the term and iteration;
            "skip" drops that batch (``gansr.training.divergence``).
        optimizer_steps_per_iteration: how many ``optimizer.step()`` calls one training batch makes; Lightning's
            ``global_step`` counts those, so ``max_steps`` given in iterations is multiplied by it.
    """

    optimizer_steps_per_iteration = 1
    #: the logged names of the optimizers' learning rates (``lr/G``, ``lr/D``), in ``configure_optimizers`` order
    optimizer_names: tuple[str, ...] = ("G",)

    def __init__(
        self,
        generator: nn.Module,
        extractor: nn.Module | None = None,
        *,
        scale: int = 4,
        generator_init: str | None = None,
        generator_init_scale: int | None = None,
        ema_decay: float | None = None,
        val_metrics: tuple[str, ...] | list[str] = ("psnr_y", "ssim_y"),
        on_nonfinite: str = "stop",
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.extractor = extractor
        self.scale = scale
        self.val_metric_names = list(val_metrics)
        self.iteration = 0
        if on_nonfinite not in POLICIES:
            raise ValueError(f"on_nonfinite must be one of {POLICIES}, got {on_nonfinite!r}")
        self.on_nonfinite = on_nonfinite
        self.skipped_batches = 0
        # speed settings (gansr.training.speed.apply_speed_settings; config group ``speed``)
        self.channels_last = False
        self.finite_check_interval = 1
        self.deferred_check = DeferredFiniteCheck()
        self.compiled_networks: dict[str, nn.Module] = {}  # speed.compile: name -> compiled network (not registered)
        self.cudagraph_steps = False  # speed.compile_mode=reduce-overhead: mark each iteration's start for CUDA graphs
        self.pending_logs: dict[str, torch.Tensor] = {}  # device tensors logged at the end of a logging iteration
        self.pending_rates: dict[str, float] = {}  # lr/G, lr/D of a logging iteration
        if generator_init:
            self.load_generator_init(generator_init, generator_init_scale)
        self.generator_ema = GeneratorEMA(self.generator, self.extractor, ema_decay) if ema_decay else None
        self.val_metrics = nn.ModuleDict()
        self.test_metrics = nn.ModuleDict()

    # ------------------------------------------------------------------ forward
    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``(B,3,h,w) -> (B,3,s*h,s*w)`` with the training weights (no clamp)."""
        features = self.extractor(lr) if self.extractor is not None else lr
        return self.generator(features)

    def step_network(self, name: str) -> nn.Module | None:
        """The network ``name`` ("generator", "extractor", "discriminator") as the training step runs it: its
        ``torch.compile`` wrapper under ``speed.compile`` (validation and export keep the eager module, whose
        parameters the wrapper shares; checkpoint keys are the eager ones), else the module itself (or None)."""
        return self.compiled_networks.get(name, getattr(self, name, None))

    def training_forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``forward`` through the training step's (possibly compiled) networks."""
        extractor = self.step_network("extractor")
        return self.step_network("generator")(extractor(lr) if extractor is not None else lr)

    @torch.no_grad()
    def upscale(self, lr: torch.Tensor) -> torch.Tensor:
        """Inference output clamped to [0,1], from the EMA weights when EMA is on."""
        if self.generator_ema is not None:
            return self.generator_ema(lr).clamp(0, 1)
        return self(lr).clamp(0, 1)

    def generator_parameters(self) -> list[nn.Parameter]:
        """G (and E when shared): what the generator optimizer owns."""
        params = list(self.generator.parameters())
        if self.extractor is not None:
            params = list(self.extractor.parameters()) + params
        return params

    # ------------------------------------------------------------------ init weights
    def load_generator_init(self, path: str | Path, init_scale: int | None = None) -> None:
        """Initialise G (and E) from a gansr checkpoint or an official generator file (docs/methods.md §2.2); from a model
        of another scale (``init_scale``) the EDSR-PyTorch way (see ``generator_init_scale``)."""
        state = safe_load(path)
        if init_scale not in (None, self.scale):
            if not isinstance(self.generator, EDSR):
                raise ValueError(
                    f"module.generator_init_scale={init_scale} (model scale {self.scale}): starting from another scale "
                    f"is EDSR-PyTorch's recipe for EDSR/PESR generators, not {type(self.generator).__name__}; "
                    "start from a model of the same scale"
                )
            try:
                report = load_x2_into_x4(self.generator, read_state_dict(state))
            except CheckpointMismatchError as err:
                raise CheckpointMismatchError(f"module.generator_init={path}: {err}") from None
            rank_zero_info(f"[gansr] generator_init from x{init_scale}: {len(report.loaded)} tensors loaded, "
                           f"kept at init: {', '.join(report.kept)}")
            return
        try:
            load_generator_weights(self.generator, state)  # a Lightning checkpoint: its 'generator.*' tensors
            if self.extractor is not None and "state_dict" in state:
                if not _sub_state(state["state_dict"], "extractor."):
                    raise ValueError(f"{path}: has no shared-extractor weights ('extractor.*'), but this run shares one")
                load_generator_weights(self.extractor, state, key="extractor")
        except CheckpointMismatchError as err:
            raise CheckpointMismatchError(f"module.generator_init={path}: {err}") from None

    # ------------------------------------------------------------------ schedulers / counter
    def step_schedulers(self) -> None:
        """Step every scheduler once per training iteration (the official codes' MultiStepLR convention)."""
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    def finish_iteration(self) -> None:
        """Schedulers, EMA and the module's own counter: called once at the end of every training batch."""
        if self.is_logging_iteration():  # the rates this iteration used, before the schedulers move them
            self.pending_rates = self.learning_rates()
        self.step_schedulers()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator, self.extractor)
        if self.is_logging_iteration():
            self.flush_logs()
        self.iteration += 1
        if self.finite_check_interval > 1 and self.iteration % self.finite_check_interval == 0:
            self.deferred_check.raise_if_nonfinite(self)

    # ------------------------------------------------------------------ logging without host syncs
    def is_logging_iteration(self) -> bool:
        """True on the iterations whose training values are logged: the first, every ``trainer.log_every_n_steps``-th
        (the batches on which Lightning writes to its loggers) and the last. Other iterations log nothing, so no
        value is read back from the device (no host-device synchronisation) outside these iterations."""
        trainer = self._trainer
        if trainer is None or trainer.log_every_n_steps <= 0:
            return False
        number = self.iteration + 1
        last = 0 < trainer.max_steps <= number * self.optimizer_steps_per_iteration
        return self.iteration == 0 or number % trainer.log_every_n_steps == 0 or last

    def log_on_logging_iteration(self, values: dict[str, torch.Tensor]) -> None:
        """Keep ``values`` (0-d tensors, still on the device) for this iteration's log, on logging iterations only."""
        if self.is_logging_iteration():
            self.pending_logs.update({name: value.detach() for name, value in values.items()})

    def learning_rates(self) -> dict[str, float]:
        """``{"lr/G": 1e-4, "lr/D": 1e-4}``: the rate of each optimizer's first parameter group, named by
        :attr:`optimizer_names` (Lightning's ``LearningRateMonitor`` would call them ``lr-Adam``, ``lr-Adam-1``)."""
        optimizers = self.trainer.optimizers if self._trainer is not None else []
        return {f"lr/{name}": float(opt.param_groups[0]["lr"]) for name, opt in zip(self.optimizer_names, optimizers)}

    def flush_logs(self) -> None:
        """Log this iteration's kept values with ONE device-to-host copy. They are logged as CPU tensors, so neither
        Lightning's logger nor its progress bar reads the device afterwards (Lightning turns a Python number into a
        device tensor and reads progress-bar values back after every batch: host syncs on a GPU).

        Every logger gets them at ``step`` = the iteration just done (1-based, the log's ``[iter N]``, the number in
        checkpoint and validation-picture names): Lightning uses a logged ``step`` value as the step, instead of its
        batch counter, which is one lower."""
        names = list(self.pending_logs)
        values = torch.stack([v.float().reshape(()) for v in self.pending_logs.values()]).cpu() if names else []
        self.pending_logs.clear()
        logged = dict(zip(names, values))
        bar = {k: v for k, v in logged.items() if k.endswith("/total")}
        self.log_dict({k: v for k, v in logged.items() if k not in bar}, on_step=True, on_epoch=False)
        self.log_dict(bar, on_step=True, on_epoch=False, prog_bar=True)
        rates, self.pending_rates = self.pending_rates, {}
        self.log_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in rates.items()}, on_step=True, on_epoch=False)
        self.log("step", torch.tensor(float(self.iteration + 1)), on_step=True, on_epoch=False)

    def step_optimizer(self, optimizer, terms: dict[str, torch.Tensor], parameters: list[nn.Parameter], prefix: str) -> None:
        """One optimizer step on the sum of ``terms`` (logged as ``train/<prefix>/<name>``); with a non-finite term
        or gradient the divergence guard stops the run or, with ``on_nonfinite=skip``, the step is not taken
        (with ``finite_check_interval > 1`` the run stops at the next check instead, before any checkpoint)."""
        total = torch.stack(list(terms.values())).sum()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(total)
        if self.finite_check_interval > 1:  # flags stay on the device (no host sync), read in finish_iteration
            self.deferred_check.record(prefix, terms, parameters, self.iteration + 1)  # 1-based, as the log
            optimizer.step()
        elif check_finite(self, prefix, terms, parameters):
            optimizer.step()
        self.log_on_logging_iteration({**{f"train/{prefix}/{k}": v for k, v in terms.items()}, f"train/{prefix}/total": total})

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.finite_check_interval > 1:  # never write weights updated from a non-finite step
            self.deferred_check.raise_if_nonfinite(self)
        checkpoint["iteration"] = self.iteration
        checkpoint["skipped_batches"] = self.skipped_batches
        checkpoint["rng_state"] = rng_state()  # exact resume: same shuffles and crops after the restart

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.iteration = int(checkpoint["iteration"])
        self.skipped_batches = int(checkpoint["skipped_batches"])
        if "rng_state" in checkpoint:
            set_rng_state(checkpoint["rng_state"], rank=self.global_rank)

    # ------------------------------------------------------------------ validation / test
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None:
            return
        for names, store in ((datamodule.val_names, self.val_metrics), (getattr(datamodule, "test_names", []) or [], self.test_metrics)):
            for name in names:
                key = _metric_key(name)
                if key not in store:
                    store[key] = nn.ModuleDict(build_metrics(self.val_metric_names, crop_border=self.scale))

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        if self.cudagraph_steps:  # a new iteration: CUDA-graph outputs of the previous one may be overwritten
            torch.compiler.cudagraph_mark_step_begin()

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """An HR-only training batch gets its LR made on this device (``SRDataModule.device_transform``, the
        ``degradation`` group); with ``speed.channels_last`` the image tensors are moved to NHWC like the networks."""
        transform = getattr(getattr(self._trainer, "datamodule", None), "device_transform", None)
        if transform is not None:
            batch = transform(batch)
        if self.channels_last:
            return {k: v.contiguous(memory_format=torch.channels_last) if torch.is_tensor(v) and v.dim() == 4 else v
                    for k, v in batch.items()}
        return batch

    def _evaluate_batch(self, batch: dict, store: nn.ModuleDict, names: list[str], dataloader_idx: int) -> torch.Tensor:
        sr = quantize(self.upscale(batch["lr"]).float())  # bf16-mixed: round to 8 bits from fp32
        hr = batch["hr"]
        if sr.shape != hr.shape:
            raise ValueError(f"SR {tuple(sr.shape)} and HR {tuple(hr.shape)} differ: HR must be mod-cropped to the scale")
        for metric in store[_metric_key(names[dataloader_idx])].values():
            metric.update(sr, hr)
        return sr

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self._evaluate_batch(batch, self.val_metrics, self.trainer.datamodule.val_names, dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self._evaluate_batch(batch, self.test_metrics, self.trainer.datamodule.test_names, dataloader_idx)

    def _log_metrics(self, stage: str, store: nn.ModuleDict, names: list[str]) -> None:
        for name in names:
            for metric_name, metric in store[_metric_key(name)].items():
                if metric.update_count:
                    self.log(f"{stage}/{name}/{metric_name}", metric.compute(), sync_dist=False)
                metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.val_metrics, self.trainer.datamodule.val_names)
        if not self.trainer.sanity_checking:  # at the iteration validated, as the training values (flush_logs)
            self.log("step", torch.tensor(float(self.iteration)), sync_dist=False)

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test", self.test_metrics, self.trainer.datamodule.test_names)

    # ------------------------------------------------------------------ export
    def generator_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Separately saved parts (DESIGN.md example 10): ``{"params": G, "extractor": E, "params_ema": EMA G}``."""
        state = {"params": {k: v.detach().cpu() for k, v in self.generator.state_dict().items()}}
        if self.extractor is not None:
            state["extractor"] = {k: v.detach().cpu() for k, v in self.extractor.state_dict().items()}
        if self.generator_ema is not None:
            state.update(self.generator_ema.export())
        return state


def _sub_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
