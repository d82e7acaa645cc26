"""One live ``gansr-train`` per run folder: ``<run>/run.lock`` names the process that uses the folder.

Two runs with the same ``run_name`` would otherwise both write one folder (config, ``metrics.csv``, checkpoints,
``generator.pth`` from different runs). The lock file holds JSON: ``pid``, ``host``, ``started`` (UTC), the
process start time (``proc_start``, Linux: tells a reused PID from the locking process) and ``slurm_job_id``.
"""
from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import time
from pathlib import Path

from hydra.experimental.callback import Callback
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from gansr.utils.errors import GansrError

LOCK_NAME = "run.lock"


class RunFolderInUseError(GansrError, RuntimeError):
    """Another live process trains in this run folder."""


def _process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux ``/proc/<pid>/stat`` field 22); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int, proc_start: int | None) -> bool:
    """Whether ``pid`` runs on this host and is the process that wrote the lock (not a reused PID)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    current = _process_start(pid)
    return proc_start is None or current is None or current == proc_start


class RunLock:
    """``with RunLock(folder):`` holds ``<folder>/run.lock`` for the body.

    Entering creates the file atomically (``O_EXCL``). When it exists already:

    * written by this process (``gansr-train``'s Hydra callback took it before ``train()``): re-entered, and left
      for the outer holder to remove;
    * written by a live process on this host, or by one on another host (which cannot be checked):
      :class:`RunFolderInUseError` naming that process and what to do;
    * stale (its PID is gone on this host, or this is the same SLURM job, requeued): taken over, with a message.

    Leaving removes the file if this instance created it (also after an error; a ``kill -9`` leaves a stale lock,
    which the next run takes over). Only the global-rank-0 process of a multi-process run takes the lock (the
    other ranks' processes, started by Lightning or ``srun`` with ``RANK``/``LOCAL_RANK``/``SLURM_PROCID``, share
    the folder with it).
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.owned = False

    def _record(self) -> dict:
        return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "proc_start": _process_start(os.getpid()), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}

    def _holder(self) -> dict | None:
        """The lock's content; None when it vanished meanwhile; ``{}`` when unreadable (being or never written)."""
        try:
            holder = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else {}

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if rank_zero_only.rank != 0:
            return self
        mine = self._record()
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue
                if not holder and time.time() - self._mtime() < 2:  # another run is writing it right now
                    time.sleep(0.1)
                    continue
                if holder.get("pid") == mine["pid"] and holder.get("host") == mine["host"]:
                    return self  # this process holds it already
                self._take_over_if_stale(holder, mine)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(mine, f)
            self.owned = True
            return self

    def _take_over_if_stale(self, holder: dict, mine: dict) -> None:
        pid, host = holder.get("pid"), holder.get("host")
        same_job = mine["slurm_job_id"] is not None and holder.get("slurm_job_id") == mine["slurm_job_id"]
        if holder and not same_job and (host != mine["host"] or _alive(pid, holder.get("proc_start"))):
            where = "this host" if host == mine["host"] else f"host {host}"
            raise RunFolderInUseError(
                f"run folder {self.path.parent} is in use by PID {pid} on {where} (since {holder.get('started')}): "
                f"wait for that run to end, give another run_name=..., or, if that run is gone, delete {self.path}")
        why = ("unreadable" if not holder else f"the same SLURM job {mine['slurm_job_id']}, requeued" if same_job
               else f"PID {pid} is no longer running")
        print(f"[gansr] taking over the stale lock {self.path} ({why})", file=sys.stderr)
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc) -> None:
        if self.owned:
            self.path.unlink(missing_ok=True)
            self.owned = False


class HydraRunLock(Callback):
    """Hydra callback (``hydra.callbacks.run_lock`` in ``conf/train.yaml``): takes the run folder's lock before
    Hydra writes ``.hydra/`` and ``train.log`` into it, so a refused second run changes nothing there; removed when
    the run ends. ``train()`` takes the same lock (re-entered here), which covers runs composed without
    ``@hydra.main`` (demo, tables, tests) and every job of a multirun.

    Hydra turns exceptions raised in callbacks into warnings and runs the job anyway, so a refusal prints its one
    line and exits with status 1 here. Hydra skips ``on_run_end`` when the job ends with ``SystemExit`` (a second
    Ctrl-C, a refused request), so the lock is also released at interpreter exit.
    """

    def __init__(self) -> None:
        self.lock: RunLock | None = None

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().set_config(config)  # hydra.run.dir may use ${hydra:runtime.cwd}
        try:
            self.lock = RunLock(config.hydra.run.dir).__enter__()
        except RunFolderInUseError as err:
            sys.exit(f"gansr-train: error: {err}")
        atexit.register(self.lock.__exit__, None, None, None)

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        if self.lock is not None:
            self.lock.__exit__(None, None, None)
