"""SLURM: one path for pre-emption and time limits, shared by the submitit launcher and plain ``sbatch``/``srun``.

The scheduler's signal is caught by :class:`~gansr.training.preemption.PreemptionCheckpoint`, which writes
``checkpoints/last.ckpt`` at the end of the batch and stops the fit. Then :func:`requeue_after_preemption`
requeues the job:

* under ``hydra/launcher=submitit_slurm`` the signal is submitit's (``SIGUSR2``, ``signal_delay_s`` before the time
  limit, or ``scancel --signal=USR2``): submitit's own handler (put back by the callback at teardown) is called, so
  submitit checkpoints the Hydra job (same overrides, same run folder), counts timeouts against
  ``max_num_timeout`` and runs ``scontrol requeue``;
* in a plain ``sbatch`` job (``#SBATCH --signal=USR1@120``) ``SIGUSR1`` or ``SIGUSR2`` makes global rank 0 run
  ``scontrol requeue $SLURM_JOB_ID``.

``SIGTERM`` (``scancel``, the time limit itself, pre-emption by a higher-priority job) only saves and stops: SLURM
requeues pre-empted jobs itself when its ``PreemptMode`` says so. A requeued job (``SLURM_RESTART_COUNT`` >= 1)
continues from the newest checkpoint of its run folder (:func:`resume_when_requeued`: ``resume=auto``).

Lightning's own SLURM auto-requeue (a SIGUSR1 handler saving ``hpc_ckpt_*.ckpt`` and calling ``scontrol requeue``)
is switched off (:func:`cluster_plugins`), so the two do not both act on one signal.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import SLURMEnvironment

#: signals after which a SLURM job is requeued (after last.ckpt is written); SIGTERM only saves and stops.
REQUEUE_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


def slurm_restart_count() -> int:
    """How often SLURM has requeued this job (``SLURM_RESTART_COUNT``; 0 outside SLURM or on the first start)."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def resume_when_requeued(resume: str | None) -> str | None:
    """``resume`` as given, except that a requeued SLURM job (``SLURM_RESTART_COUNT`` >= 1) without one continues
    from the newest checkpoint of its run folder (``auto``)."""
    if resume is None and slurm_restart_count() > 0:
        print(f"[gansr] SLURM job {os.environ.get('SLURM_JOB_ID')} requeued "
              f"({slurm_restart_count()} time(s)): resume=auto")
        return "auto"
    return resume


def cluster_plugins() -> list:
    """Under SLURM (Lightning's detection: ``SLURM_NTASKS`` set, not an interactive shell), the SLURM cluster
    environment with Lightning's auto-requeue off: ranks, nodes and the master address still come from SLURM."""
    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def preemption_signal(trainer: pl.Trainer) -> int | None:
    """The signal the run's :class:`PreemptionCheckpoint` stopped on (its ``received``), None when none arrived."""
    from gansr.training.preemption import PreemptionCheckpoint

    return next((cb.received for cb in trainer.callbacks if isinstance(cb, PreemptionCheckpoint)), None)


def submitit_handler(signum: int):
    """submitit's pre-emption handler for ``signum`` when this process is a submitit job, else None."""
    handler = signal.getsignal(signum)
    owner = getattr(handler, "__self__", None)
    return handler if type(owner).__module__ == "submitit.core.job_environment" else None


def requeue_after_preemption(trainer: pl.Trainer) -> None:
    """After the fit of a SLURM job stopped on a requeue signal (:data:`REQUEUE_SIGNALS`) with ``last.ckpt``
    written: requeue the job and exit (submitit's handler, or ``scontrol requeue`` on global rank 0). Does nothing
    outside a SLURM job or when no such signal arrived."""
    requeue_job(preemption_signal(trainer), trainer.is_global_zero)


def requeue_job(signum: int | None, is_global_zero: bool, continues_from: str = "last.ckpt") -> None:
    """Requeue this SLURM job when ``signum`` is a requeue signal (:data:`REQUEUE_SIGNALS`), then exit 0: through
    submitit's handler in a submitit job, else ``scontrol requeue $SLURM_JOB_ID`` on global rank 0. Also used when a
    signal stopped a run before its first iteration (``continues_from``: what the requeued job starts from). Does
    nothing outside a SLURM job or for other signals."""
    if signum not in REQUEUE_SIGNALS or "SLURM_JOB_ID" not in os.environ:
        return
    handler = submitit_handler(signum)
    if handler is not None:
        handler(signum, None)  # submitit: checkpoint the Hydra job, scontrol requeue, sys.exit (rank 0 only)
        return
    if is_global_zero:
        job = os.environ["SLURM_JOB_ID"]
        print(f"[gansr] {signal.Signals(signum).name}: requeueing SLURM job {job}; it continues from {continues_from}",
              flush=True)
        if subprocess.run(["scontrol", "requeue", job], timeout=60, check=False).returncode == 0:
            sys.exit(0)
        print(f"[gansr] scontrol requeue {job} failed (not a batch job?): continue it with resume=auto", flush=True)
