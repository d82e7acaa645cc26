"""Lightning callbacks: iteration-based checkpoints and validation image crops."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from gansr.data.image_io import write_image
from gansr.figures import comparison_row, most_detailed_window, panel_figure
from gansr.training.checkpointing import CheckpointWriteError, save_checkpoint_once
from gansr.training.divergence import DivergenceError
from gansr.training.loggers import log_image
from gansr.training.run_log import LOG
from gansr.utils.atomic import unfinished_files
from gansr.utils.stop_signals import StopRequested


class IterationCheckpoint(pl.Callback):
    """Checkpoints counted and named in training iterations (batches), one file per content.

    * every ``every_n_iterations``: ``<dirpath>/iter_<iteration:06d>.ckpt``, all kept;
    * with ``save_last``: ``<dirpath>/last.ckpt``, always the newest state of the run: a hard link to the periodic
      file of the same iteration (one copy on disk, :func:`~gansr.training.checkpointing.save_checkpoint_once`),
      or its own file at the last batch (``trainer.max_steps`` reached, a stop requested) when that iteration has no
      periodic file.

    When the fit fails between two iterations (a training or validation image deleted or damaged mid-run, a
    validation that fails) after this fit trained, ``last.ckpt`` is saved before the error is reported, so the
    iterations since the last periodic checkpoint are not lost (single-process runs; not after a divergence, a
    failed checkpoint write or a second Ctrl-C, nor for an error inside a training step, whose weights may be
    half-updated).

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
        self._in_step = False  # inside a training batch (between on_train_batch_start and on_train_batch_end)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Remove the temporary files of checkpoint writes that were killed (:func:`gansr.utils.atomic.unfinished_files`;
        the run folder's lock is held: no other run writes here)."""
        self._start_iteration = pl_module.iteration
        if trainer.is_global_zero and self.dirpath.is_dir():
            for unfinished in unfinished_files(self.dirpath, ".ckpt"):
                unfinished.unlink()
                print(f"[gansr] removed {unfinished}: a checkpoint write that never finished")

    def path_at(self, iteration: int) -> Path:
        """The periodic checkpoint of ``iteration``: ``<dirpath>/iter_000100.ckpt``."""
        return self.dirpath / self.filename.format(iteration=iteration)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx) -> None:
        self._in_step = True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        self._in_step = False
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

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Save ``last.ckpt`` before the error is reported, when the weights are those of a finished iteration (see
        the class docstring)."""
        keeps_nothing = (DivergenceError, CheckpointWriteError, KeyboardInterrupt, StopRequested)
        if (not self.save_last or self._in_step or isinstance(exception, keeps_nothing) or trainer.world_size > 1
                or pl_module.iteration == self._start_iteration):
            return
        try:
            if not save_checkpoint_once(trainer, self.last_path):
                return
        except Exception as err:  # noqa: BLE001 - the first error is the one to report; this one is only said
            LOG.error(f"[gansr] could not save {self.last_path} after the error: {err}")
            return
        LOG.info(f"[gansr] saved {self.last_path} at iteration {pl_module.iteration:,} before stopping on the error "
                 "below (continue with resume=auto once it is fixed)")


class ValidationImages(pl.Callback):
    """Saves (and logs to TensorBoard/W&B) one labelled picture per validation set and validation: the first image of the set
    as HR thumbnail (crop boxed) | LR | SR | HR, the last three as the ``crop_size`` window with the most HR detail
    (:func:`gansr.figures.most_detailed_window`: the same window at every validation, so pictures of successive
    iterations compare), zoomed ``zoom`` times, with PSNR/SSIM (Y, border = scale) of the image and the crop under SR.

    Shape: a ``(3,H,W)`` figure (about ``(crop*zoom + 90, 4*crop*zoom + 40)``) saved as
    ``<out_dir>/<set>/iter_000100.png`` (the iteration in six digits, as the checkpoints ``iter_000100.ckpt``) and
    logged at step = that iteration, as every scalar.
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
        path = self.out_dir / name / f"iter_{pl_module.iteration:06d}.png"  # numbered as the checkpoints
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
