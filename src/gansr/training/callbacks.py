"""Lightning callbacks: iteration-based checkpoints and validation image crops."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from gansr.data.image_io import write_image
from gansr.figures import comparison_row, most_detailed_window, panel_figure
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
    """Saves (and logs to TensorBoard/W&B) one labelled picture per validation set and validation: the first image of the set
    as HR thumbnail (crop boxed) | LR | SR | HR, the last three as the ``crop_size`` window with the most HR detail
    (:func:`gansr.figures.most_detailed_window`: the same window at every validation, so pictures of successive
    iterations compare), zoomed ``zoom`` times, with PSNR/SSIM (Y, border = scale) of the image and the crop under SR.

    Shape: a ``(3,H,W)`` figure (about ``(crop*zoom + 90, 4*crop*zoom + 40)``) saved as ``<out_dir>/<set>/iter_<n>.png``.
    """

    def __init__(self, out_dir: str, crop_size: int = 128, zoom: int = 2) -> None:
        self.out_dir = Path(out_dir)
        self.crop_size = crop_size
        self.zoom = zoom

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero:
            return
        name = trainer.datamodule.val_names[dataloader_idx]
        panel = validation_figure(batch["lr"][0], outputs[0], batch["hr"][0], pl_module.iteration, name,
                                  self.crop_size, self.zoom)
        path = self.out_dir / name / f"iter_{pl_module.iteration:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, panel)
        log_image(trainer.loggers, f"val/{name}/lr_sr_hr", panel, step=pl_module.iteration)


def validation_figure(lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, iteration: int, set_name: str,
                      crop_size: int, zoom: int) -> torch.Tensor:
    """``lr (3,h,w)``, ``sr, hr (3,H,W)`` -> the labelled ``(3,H',W')`` picture of :class:`ValidationImages`."""
    scale = hr.shape[-1] // lr.shape[-1]
    sr, hr = sr.float().cpu().clamp(0, 1), hr.float().cpu().clamp(0, 1)
    window = most_detailed_window(hr, crop_size, border=scale)
    row = comparison_row(lr.float().cpu(), {f"SR, iteration {iteration:,}": sr}, hr, scale=scale, crop_size=crop_size,
                         zoom_factor=zoom, window=window)
    heading = f"{set_name}, first image: LR | SR | HR on the window with the most HR detail, shown x{zoom}"
    figure = panel_figure([row], heading=heading)
    return torch.from_numpy(np.array(figure)).permute(2, 0, 1).float() / 255.0
