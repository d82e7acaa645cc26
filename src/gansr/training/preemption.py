"""Pre-emption: on SIGTERM, SIGUSR1 (cluster schedulers, spot instances, ``timeout``, ``kill``) or a first SIGINT
(Ctrl-C) finish the current batch, write ``<dirpath>/last.ckpt`` and end the run cleanly (no validation after the
save), so ``gansr-train ... resume=auto`` continues exactly. A second Ctrl-C aborts.

Schedulers and ``timeout`` signal the whole process group, DataLoader workers included: the workers ignore these
signals (:func:`ignore_stop_signals`, called by :func:`gansr.data.datamodule.worker_init`) and the main process decides.

A command that runs several trainings (a ``-m`` sweep, ``gansr-demo``, a table) stops as a whole after the stage a
signal stopped: :func:`stop_sweep_after_stopped_job` and :class:`StoppedBySignal` (docs/reliability.md).
"""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn

from gansr.training.checkpointing import save_checkpoint_once
from gansr.training.run_log import LOG
from gansr.utils import stop_signals


class PreemptionCheckpoint(pl.Callback):
    """Saves ``<dirpath>/<filename>`` (atomic, through ``trainer.save_checkpoint`` and the run's
    ``AtomicCheckpointIO``) at the end of the batch during which a signal arrived, then stops the fit at once:
    ``trainer.should_stop`` is set and validation is switched off for the rest of the fit (Lightning would otherwise
    validate once more before stopping), so ``gansr-train`` writes ``generator.pth`` and exits 0. A signal that
    arrives during a validation saves at the end of that validation instead.

    ``received`` is the number of the first signal that arrived (None while none has); ``stopped`` says the run was
    stopped for it (``gansr-train``'s ``train()`` reports ``received`` as ``TrainResult.preempted_by`` then). The
    handlers replace Lightning's SIGTERM handler while training (it would end the run with ``SIGTERMException`` and
    no checkpoint) and are put back at teardown (also after an error). On the first SIGINT the previous SIGINT
    handler is put back at once, so a second Ctrl-C raises ``KeyboardInterrupt`` (Lightning then ends the run with
    exit code 1, without saving). A signal that arrived before training started was handled by ``train()``
    (:mod:`gansr.utils.stop_signals`: stopped before the first iteration); from ``on_train_start`` on, these
    handlers act. The stop message goes to stdout and ``<run>/train.log``. Under DDP the flag is reduced over ranks every batch, so every rank saves and
    stops at the same batch.
    """

    #: the signals that stop a run with a checkpoint (SIGINT: the first one; a second one aborts; USR2: submitit's
    #: SLURM signal, see training/slurm.py)
    SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self.stopped = False

    def _handle(self, signum, frame) -> None:  # no printing here: the signal may interrupt a print
        if self.received is None:
            self.received = signum
        if signum == signal.SIGINT and signal.SIGINT in self._previous:  # so that a second Ctrl-C aborts
            previous = self._previous.pop(signal.SIGINT)
            aborts = callable(previous) and not stop_signals.is_recorder(previous)
            signal.signal(signal.SIGINT, previous if aborts else signal.default_int_handler)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.received = None
        self.stopped = False
        stop_signals.disarm()  # training runs: these handlers act on a signal from here on
        self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        self._stop_if_signalled(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._stop_if_signalled(trainer, pl_module)

    def _stop_if_signalled(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.stopped or not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            return
        save_checkpoint_once(trainer, self.path)
        self.stopped = trainer.should_stop = True
        trainer.limit_val_batches = 0  # no validation between the save and the exit
        name = signal.Signals(self.received).name if self.received else "a signal on another rank"
        if trainer.is_global_zero:
            LOG.info(f"[gansr] {name} received: saved {self.path} at iteration {pl_module.iteration}; "
                     "stopping (continue with resume=auto or resume=<that file>)")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


class StoppedBySignal(RuntimeError):
    """A multi-stage command (``gansr-demo``, a table) stopped by a signal after a stage saved its checkpoint; the
    later stages did not start and no results were written. The message says where it stopped and how to
    continue; the command prints it and exits with ``128 + signum`` (the shell's code for "ended by a signal")."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


def stop_sweep_after_stopped_job(signum: int | None) -> None:
    """In a ``gansr-train -m`` sweep under Hydra's basic launcher, which runs every job in this process one after the
    other: after a job stopped by ``signum`` (its ``last.ckpt`` and ``generator.pth`` saved), end the command with
    exit 0 so that no later job starts. Nothing happens for a single run, a job that ran to its end, or a job of
    submitit's launchers (one process per job; the scheduler signals each)."""
    if signum is None:
        return
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN or not str(hydra_cfg.launcher.get("_target_", "")).endswith("BasicLauncher"):
        return
    print(f"[gansr] {signal.Signals(signum).name}: sweep stopped in job {hydra_cfg.job.num} (saved); later jobs were "
          f"not started. Continue: the same command with hydra.sweep.dir={hydra_cfg.sweep.dir} resume=auto",
          flush=True)
    raise SystemExit(0)


def ignore_stop_signals() -> None:
    """In a DataLoader worker: SIGINT, SIGUSR1 and SIGUSR2 (SLURM's ``--signal`` reaches every process of a job)
    are ignored; a SIGTERM from the worker's parent (the DataLoader shutting it down) still ends it as PyTorch's own handler does, a SIGTERM from anyone else (a signal to the
    whole process group) is ignored, so the main process can save a checkpoint and shut its workers down itself.

    PyTorch's worker handler re-raises any SIGTERM that does not come from the parent, which kills the worker and
    makes the main process fail with "DataLoader worker ... is killed by signal: Terminated". Here SIGTERM is
    blocked and a daemon thread takes it with ``sigwaitinfo`` to read the sender (Linux); where that is not
    available, SIGTERM is ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    if not hasattr(signal, "sigwaitinfo"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: None)  # harmless should a thread not block it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads started from here on inherit the mask
    parent = os.getppid()

    def wait_for_parent_sigterm() -> None:
        while signal.sigwaitinfo({signal.SIGTERM}).si_pid != parent:
            pass
        os._exit(0)

    threading.Thread(target=wait_for_parent_sigterm, name="gansr-worker-sigterm", daemon=True).start()
