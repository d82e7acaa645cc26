"""Lightning callbacks: iteration-based checkpoints and validation image crops."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import ModelCheckpoint

from gansr.data.image_io import write_image
from gansr.training.loggers import log_image


class IterationCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose period is given in training iterations, not optimizer steps.

    Lightning's ``every_n_train_steps`` counts ``global_step``, which a GAN module advances twice per batch;
    this callback multiplies ``every_n_iterations`` by the module's ``optimizer_steps_per_iteration``.
    """

    def __init__(self, every_n_iterations: int, **kwargs) -> None:
        super().__init__(every_n_train_steps=every_n_iterations, **kwargs)
        self.every_n_iterations = every_n_iterations

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._every_n_train_steps = self.every_n_iterations * pl_module.optimizer_steps_per_iteration


class ValidationImages(pl.Callback):
    """Saves one centre crop per validation set, shown in TensorBoard/W&B too: LR (nearest-upscaled) | SR | HR.

    Shape: a (crop, 3*crop, 3) uint8 PNG at ``<out_dir>/<set>/iter_<n>.png``.
    """

    def __init__(self, out_dir: str, crop_size: int = 128) -> None:
        self.out_dir = Path(out_dir)
        self.crop_size = crop_size

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero:
            return
        name = trainer.datamodule.val_names[dataloader_idx]
        panel = side_by_side(batch["lr"][0], outputs[0], batch["hr"][0], self.crop_size)
        path = self.out_dir / name / f"iter_{pl_module.iteration:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, panel)
        log_image(trainer.loggers, f"val/{name}/lr_sr_hr", panel, step=pl_module.iteration)


def side_by_side(lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, crop_size: int) -> torch.Tensor:
    """``lr (3,h,w)``, ``sr, hr (3,H,W)`` -> ``(3,c,3c)``: centre crops of nearest-upscaled LR, SR and HR."""
    scale = hr.shape[-1] // lr.shape[-1]
    up = F.interpolate(lr[None].float(), scale_factor=scale, mode="nearest")[0]
    c = min(crop_size, hr.shape[-2], hr.shape[-1])
    top, left = (hr.shape[-2] - c) // 2, (hr.shape[-1] - c) // 2
    crops = [x[:, top : top + c, left : left + c].float().cpu().clamp(0, 1) for x in (up, sr, hr)]
    return torch.cat(crops, dim=-1)
