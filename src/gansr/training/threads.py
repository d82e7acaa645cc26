"""How many CPU threads PyTorch uses in a training process: ``speed.threads`` (docs/speed.md "CPU threads").

PyTorch's default is one thread per core of the machine, whatever share of it this process was given: on a shared
2-core box a demo GAN iteration took 7.7-11.6 s with the default against <= 1.6 s with one thread, and on a cluster
node a job with 8 of 64 cores ran 64 threads. ``speed.threads: null`` (auto) takes instead

* the CPUs this process may run on: ``os.sched_getaffinity`` (taskset, cgroups, ``srun --cpu-bind``), and no more
  than ``SLURM_CPUS_PER_TASK`` where SLURM sets it;
* shared among the training processes started on this node from that CPU set: ``trainer.devices`` DDP processes
  when Lightning starts them, 1 under SLURM (each ``srun`` task is one process with its own CPUs) or as given by
  torchrun's ``LOCAL_WORLD_SIZE``;
* less one CPU per DataLoader worker of the process (``data.num_workers``), at least 1.

``OMP_NUM_THREADS`` in the environment is taken as given (PyTorch read it at start). A number in ``speed.threads``
wins over both. The start line of the run's log says the count and where it came from.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch

#: why the current process has its thread count (set by :func:`apply_threads`; shown in the run's start line)
CHOSEN: str | None = None


def usable_cpus(env: Mapping[str, str] = os.environ) -> tuple[int, str]:
    """The CPUs this process may use and where that number comes from."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    source = "CPU affinity"
    slurm = env.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and 0 < int(slurm) < cpus:
        cpus, source = int(slurm), "SLURM_CPUS_PER_TASK"
    return cpus, source


def processes_sharing_cpus(devices, env: Mapping[str, str] = os.environ) -> int:
    """Training processes on this node that share this process's CPU set (module docstring)."""
    if env.get("LOCAL_WORLD_SIZE", "").isdigit():
        return max(1, int(env["LOCAL_WORLD_SIZE"]))
    if env.get("SLURM_CPUS_PER_TASK") or env.get("SLURM_NTASKS"):
        return 1
    if isinstance(devices, int) and not isinstance(devices, bool):
        return max(1, devices)
    if isinstance(devices, (list, tuple)) or (isinstance(devices, str) and "," in devices):
        return max(1, len(devices if not isinstance(devices, str) else [d for d in devices.split(",") if d.strip()]))
    return 1


def choose_threads(setting, devices=1, num_workers: int | None = 0,
                   env: Mapping[str, str] = os.environ) -> tuple[int, str]:
    """The thread count for ``speed.threads = setting`` and a short reason (module docstring).

    Raises:
        ValueError: ``setting`` is neither null nor a positive integer.
    """
    if setting is not None:
        if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
            raise ValueError(f"speed.threads={setting}: give a positive number of CPU threads, or null for one per "
                             "CPU this process may use")
        return setting, "speed.threads"
    if env.get("OMP_NUM_THREADS", "").isdigit() and int(env["OMP_NUM_THREADS"]) > 0:
        return int(env["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    cpus, source = usable_cpus(env)
    processes = processes_sharing_cpus(devices, env)
    workers = min(4, cpus) if num_workers is None else int(num_workers)  # data.num_workers: null = min(4, cpu count)
    threads = max(1, cpus // processes - workers)
    return threads, (f"auto: {cpus} CPUs ({source}) / {processes} process{'es' if processes > 1 else ''}"
                     f" - {workers} DataLoader worker{'s' if workers != 1 else ''}")


def apply_threads(setting, devices=1, num_workers: int | None = 0) -> int:
    """Set PyTorch's thread count by :func:`choose_threads` and return it. With several processes per node the
    count also goes to ``OMP_NUM_THREADS``, which the DDP processes Lightning starts inherit (Lightning would
    otherwise set its own: all cores of the machine / processes)."""
    global CHOSEN
    threads, reason = choose_threads(setting, devices, num_workers)
    torch.set_num_threads(threads)
    if processes_sharing_cpus(devices) > 1:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    CHOSEN = f"{threads} CPU thread{'s' if threads > 1 else ''} ({reason})"
    return threads
