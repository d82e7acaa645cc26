"""Loggers that keep a run's history across resumes, and one image-logging call for every logger kind.

* :class:`AppendingCSVLogger`: ``<run>/metrics.csv`` grows across resumes (Lightning's ``CSVLogger`` deletes the
  file of the previous session). Rows that the previous session logged *after* the checkpoint it is resumed from
  (a run killed between a checkpoint and the next one) are dropped when the resumed run writes its first row, so
  every step appears once. A row equal to the one before (same step, same values) is not written again: Lightning
  repeats the last logged values when a run stops between two logging iterations.
* :func:`resumable_wandb_logger`: the W&B run id is kept in ``<run>/wandb_run_id`` and the run is opened with
  ``resume="allow"``, so a resumed run continues the same W&B curve.
* TensorBoard (``conf/logger/tensorboard.yaml``) needs nothing special: every session writes a new
  ``events.out.tfevents.*`` file beside the old ones in ``<run>/tensorboard`` and TensorBoard reads them all.
* :func:`log_image`: a validation picture to every logger that can show one (TensorBoard, W&B).
"""
from __future__ import annotations

import csv
import io
import secrets
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.core.saving import save_hparams_to_yaml
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from gansr.data.image_io import to_uint8
from gansr.utils.atomic import atomic_path, write_text_atomic

__all__ = ["AppendingCSVLogger", "log_image", "resumable_wandb_logger"]

WANDB_ID_FILE = "wandb_run_id"


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer without the deletion of an existing ``metrics.csv``: the first save of this session
    keeps the rows of earlier sessions whose step is below this session's first step and appends after them."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self._merged_previous = False
        self._last_row: tuple[object, dict] | None = None

    def _check_log_dir_exists(self) -> None:  # Lightning's version deletes metrics.csv
        pass

    def log_hparams(self, params: dict[str, Any]) -> None:
        """Lightning's, with ``hparams.yaml`` written atomically (``gansr.analysis`` reads it back)."""
        self.hparams.update(params)
        with atomic_path(Path(self.log_dir) / self.NAME_HPARAMS_FILE) as tmp:
            save_hparams_to_yaml(tmp, self.hparams)

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        row = (step, {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in metrics_dict.items()})
        if step is not None and row == self._last_row:  # a stop between logging iterations repeats the last row
            return
        self._last_row = row
        super().log_metrics(metrics_dict, step)

    def save(self) -> None:
        if self.metrics and not self._merged_previous:
            self._merged_previous = True
            self._keep_previous_rows(min(int(row["step"]) for row in self.metrics))
        super().save()

    def _keep_previous_rows(self, first_step: int) -> None:
        """Rewrite ``metrics.csv`` with its rows of steps < ``first_step`` and remember its columns."""
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            reader = csv.DictReader(file)
            keys = list(reader.fieldnames or [])
            rows = [row for row in reader if row.get("step") not in (None, "") and int(float(row["step"])) < first_step]
        self.metrics_keys = sorted(set(self.metrics_keys) | set(keys))
        self._rewrite(self.metrics_keys, rows)

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:  # Lightning's version rewrites in place
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            rows = list(csv.DictReader(file))
        self._rewrite(fieldnames, rows)

    def _rewrite(self, fieldnames: list[str], rows: list[dict]) -> None:
        """Replace ``metrics.csv`` by ``rows`` under ``fieldnames`` atomically (:func:`gansr.utils.atomic.write_text_atomic`):
        a crash or a full disk during the rewrite leaves the old file. New rows are appended as Lightning does."""
        table = io.StringIO(newline="")
        writer = csv.DictWriter(table, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.metrics_file_path, table.getvalue())


class AppendingCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` keeps the history of earlier sessions of the same run folder (see the
    module docstring). Same arguments as Lightning's ``CSVLogger``."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def resumable_wandb_logger(save_dir: str, **kwargs: Any) -> WandbLogger:
    """A ``WandbLogger`` whose run id is stored in ``<save_dir>/wandb_run_id`` (made on the first session) and opened
    with ``resume="allow"``: every session of one run folder logs to the same W&B run. ``kwargs`` go to
    ``WandbLogger`` (project, name, group, tags, ...)."""
    id_file = Path(save_dir) / WANDB_ID_FILE
    if id_file.is_file() and id_file.read_text().strip():
        run_id = id_file.read_text().strip()
    else:
        run_id = secrets.token_hex(4)  # 8 characters of [0-9a-f], as W&B's own ids
        id_file.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(id_file, run_id + "\n")
    logger = WandbLogger(save_dir=save_dir, id=run_id, resume="allow", **kwargs)
    if logger._wandb_init.get("anonymous", False) is None:
        # Lightning passes anonymous=None to wandb.init, and W&B answers any value given with "The anonymous setting
        # has no effect and will be removed in a future version": not giving it is the same, without the message
        del logger._wandb_init["anonymous"]
    return logger


def log_image(loggers: list[Logger], key: str, image: torch.Tensor, step: int) -> None:
    """Show ``image`` (``(3,H,W)`` float in [0,1]) under ``key`` at ``step`` in every logger that shows images
    (TensorBoard, W&B); the others are skipped."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image.clamp(0, 1), global_step=step, dataformats="CHW")
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[to_uint8(image)], step=step)
