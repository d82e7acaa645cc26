"""Pre-emption: on SIGTERM or SIGUSR1 (cluster schedulers, spot instances, ``kill``) finish the current batch,
write ``<dirpath>/last.ckpt`` and end the run cleanly, so ``gansr-train ... resume=auto`` continues exactly."""
from __future__ import annotations

import signal
from pathlib import Path

import pytorch_lightning as pl


class PreemptionCheckpoint(pl.Callback):
    """Saves ``<dirpath>/<filename>`` (atomic, through ``trainer.save_checkpoint`` and the run's
    ``AtomicCheckpointIO``) at the end of the batch during which a signal arrived, then sets
    ``trainer.should_stop``: the fit returns normally and ``gansr-train`` exits 0.

    The handlers replace Lightning's SIGTERM handler while training (it would end the run with
    ``SIGTERMException`` and no checkpoint) and are put back at teardown (also after an error). Under DDP the flag is
    reduced over ranks every batch, so every rank saves and stops at the same batch.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)  # USR2: submitit's SLURM signal (training/slurm.py)

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.received = signum

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.received = None
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        if not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            return
        trainer.save_checkpoint(self.path)
        trainer.should_stop = True
        name = signal.Signals(self.received).name if self.received else "a signal on another rank"
        pl_module.print(f"[gansr] {name} received: saved {self.path} at iteration {pl_module.iteration}; "
                        "stopping (continue with resume=auto or resume=<that file>)")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
