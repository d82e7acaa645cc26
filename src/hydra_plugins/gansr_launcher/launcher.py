"""Hydra launchers for ``gansr-train -m``: submitit's SLURM and local launchers (hydra-submitit-launcher), which
submit one job per sweep point, plus what a cluster sweep needs:

* SLURM: ``gansr-train -m`` returns as soon as the jobs are queued, printing one
  ``[gansr] submitted SLURM job <id>: <overrides>`` line per job; it waits for them and returns their values only
  under a sweeper that reads them (``optimized_metric``, e.g. ``hydra/sweeper=optuna``); the local launcher waits;
* every job of a sweep logs to one W&B group: ``wandb_group`` when the run has one, else ``sweep-<sweep folder
  name>``;
* a run that raises fails its job (SLURM state ``FAILED``), so nothing queued ``--dependency=afterok`` on it starts.

Configs: ``conf/hydra/launcher/submitit_slurm.yaml`` and ``submitit_local.yaml`` (Hydra validates them against the
plugin's schema of the same name; :mod:`gansr.cli.train` silences Hydra's deprecation note about that match).
Pre-emption and requeue inside the job: :mod:`gansr.training.slurm`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


class _GansrLauncher(submitit_launcher.BaseSubmititLauncher):
    """:class:`BaseSubmititLauncher` that returns without waiting where nothing reads the results, and puts the jobs
    of a sweep in one W&B group (module docstring)."""

    def __call__(self, sweep_overrides: list[str], job_dir_key: str, job_num: int, job_id: str,
                 singleton_state: dict) -> JobReturn:
        """The job, run by submitit on the node(s): the base class runs the Hydra job, whose ``run_job`` catches the
        run's exception into a ``FAILED`` result; it is raised again here, so submitit reports the error and the SLURM
        job exits non-zero. (Returned instead, the job ended ``COMPLETED`` and a table's row queued ``afterok`` on a
        failed stage started from a checkpoint that was never written.)"""
        result = super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)
        if result.status == JobStatus.FAILED:
            raise result._return_value
        return result

    def waits(self) -> bool:
        """Wait for the jobs: always for local jobs; on SLURM only under a sweeper that reads their results."""
        sweeper = str(OmegaConf.select(self.config, "hydra.sweeper._target_", default=""))
        return self._EXECUTOR == "local" or not sweeper.endswith("BasicSweeper")

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit one job per point (the base class's submission, plus the W&B group); return the jobs' results
        when :meth:`waits`, else placeholders that say the jobs were queued."""
        import submitit

        assert self.config is not None
        executor = self._executor(submitit)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        overrides = [[*o, *self._wandb_group(o, sweep_dir)] for o in job_overrides]
        job_params = []
        for idx, job in enumerate(overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(job))}")
            job_params.append((job, "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*job_params))
        for job, params in zip(jobs, job_params):
            print(f"[gansr] submitted {self._EXECUTOR.upper()} job {job.job_id}: {' '.join(params[0])}", flush=True)
        if self.waits():
            return [job.results()[0] for job in jobs]
        print(f"[gansr] jobs queued; run folders, logs and checkpoints under {sweep_dir}", flush=True)
        return [JobReturn(overrides=list(o), status=JobStatus.COMPLETED, task_name=self.config.hydra.job.name)
                for o in overrides]

    def _executor(self, submitit):
        """The submitit executor with this launcher's parameters (as the base class builds it)."""
        init_keys = {"submitit_folder", "max_num_timeout"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
            **({f"{self._EXECUTOR}_max_num_timeout": self.params["max_num_timeout"]}
               if "max_num_timeout" in self.params else {}))
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v
                                      for k, v in self.params.items() if k not in init_keys})
        return executor

    def _wandb_group(self, overrides: Sequence[str], sweep_dir: Path) -> list[str]:
        """``++wandb_group=sweep-<sweep folder name>`` unless the run or this point already names a group."""
        if OmegaConf.select(self.config, "wandb_group") is not None or any(
                o.lstrip("+~").startswith("wandb_group=") for o in overrides):
            return []
        return [f"++wandb_group=sweep-{sweep_dir.name}"]


class SlurmLauncher(_GansrLauncher, submitit_launcher.SlurmLauncher):
    """``hydra/launcher=submitit_slurm``: one SLURM job per sweep point."""


class LocalLauncher(_GansrLauncher, submitit_launcher.LocalLauncher):
    """``hydra/launcher=submitit_local``: one local process per sweep point (submitit's local executor)."""
