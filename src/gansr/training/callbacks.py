"""Lightning callbacks: iteration-based checkpoints and validation image crops."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import WandbLogger

from gansr.data.image_io import to_uint8, write_image
from gansr.training.checkpointing import save_checkpoint_once


class IterationCheckpoint(pl.Callback):
    """Checkpoints counted and named in training iterations (batches), one file per content.

    * every ``every_n_iterations``: ``<dirpath>/iter_<iteration:06d>.ckpt``, all kept;
    * with ``save_last``: ``<dirpath>/last.ckpt``, always the newest state of the run: a hard link to the periodic
      file of the same iteration (one copy on disk, :func:`~gansr.training.checkpointing.save_checkpoint_once`),
      or its own file at the last batch (``trainer.max_steps`` reached, a stop requested) when that iteration has no
      periodic file.

    Files are written atomically (the run's ``AtomicCheckpointIO``) and never renamed to ``last-v1.ckpt``: a resumed
    run keeps writing the same names. (Lightning's ``ModelCheckpoint`` counts ``global_step``, which a GAN advances
    twice per batch, names files ``epoch=..-step=..``, writes ``last.ckpt`` as a second full copy and versions it
    when it finds one it did not write, so it is not used.)
    """

    def __init__(self, dirpath: str, every_n_iterations: int, save_last: bool = True,
                 filename: str = "iter_{iteration:06d}.ckpt") -> None:
        if every_n_iterations < 1:
            raise ValueError(f"callbacks.checkpoint.every_n_iterations must be >= 1, got {every_n_iterations}")
        self.dirpath = Path(dirpath)
        self.every_n_iterations = int(every_n_iterations)
        self.save_last = save_last
        self.filename = filename
        self.last_path = self.dirpath / "last.ckpt"
        self._start_iteration = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Remove ``*.ckpt.tmp`` files left by a write that was killed (the run folder's lock is held: no other
        run writes here)."""
        self._start_iteration = pl_module.iteration
        if trainer.is_global_zero and self.dirpath.is_dir():
            for unfinished in sorted(self.dirpath.glob("*.ckpt.tmp")):
                unfinished.unlink()
                print(f"[gansr] removed {unfinished}: a checkpoint write that never finished")

    def path_at(self, iteration: int) -> Path:
        """The periodic checkpoint of ``iteration``: ``<dirpath>/iter_000100.ckpt``."""
        return self.dirpath / self.filename.format(iteration=iteration)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        iteration = pl_module.iteration
        if iteration % self.every_n_iterations == 0:
            save_checkpoint_once(trainer, self.path_at(iteration))
            if self.save_last:
                save_checkpoint_once(trainer, self.last_path, same_as=self.path_at(iteration))
        elif self.save_last and (trainer.should_stop or 0 < trainer.max_steps <= trainer.global_step):
            save_checkpoint_once(trainer, self.last_path)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The fit ended some other way (``max_epochs``, a stop after a validation): ``last.ckpt`` unless this fit
        trained nothing (resumed at or past ``max_steps``), which leaves the files as they are."""
        if self.save_last and pl_module.iteration != self._start_iteration:
            save_checkpoint_once(trainer, self.last_path)


class ValidationImages(pl.Callback):
    """Saves (and logs to W&B) one centre crop per validation set: LR (nearest-upscaled) | SR | HR, side by side.

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
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"val/{name}/lr_sr_hr", images=[to_uint8(panel)], step=trainer.global_step)


def side_by_side(lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, crop_size: int) -> torch.Tensor:
    """``lr (3,h,w)``, ``sr, hr (3,H,W)`` -> ``(3,c,3c)``: centre crops of nearest-upscaled LR, SR and HR."""
    scale = hr.shape[-1] // lr.shape[-1]
    up = F.interpolate(lr[None].float(), scale_factor=scale, mode="nearest")[0]
    c = min(crop_size, hr.shape[-2], hr.shape[-1])
    top, left = (hr.shape[-2] - c) // 2, (hr.shape[-1] - c) // 2
    crops = [x[:, top : top + c, left : left + c].float().cpu().clamp(0, 1) for x in (up, sr, hr)]
    return torch.cat(crops, dim=-1)
