"""One live ``gansr-train`` per run folder: ``<run>/run.lock`` names the process that uses the folder.

Two runs with the same ``run_name`` would otherwise both write one folder (config, ``metrics.csv``, checkpoints,
``generator.pth`` from different runs). The lock file holds JSON: ``pid``, ``host``, ``started`` (UTC), the
process start time and boot id (``proc_start``, ``boot_id``, Linux: tell a reused PID from the locking process) and
``slurm_job_id``. A stale lock is taken over under ``flock`` on the stale file itself, so of several runs started
together over it exactly one wins (see :meth:`RunLock._take_over_if_stale`).
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from hydra.experimental.callback import Callback
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from gansr.training.run_folder import RunFolderTakenError, check_new_run_folder
from gansr.training.slurm import slurm_restart_count
from gansr.utils.errors import GansrError

LOCK_NAME = "run.lock"
#: seconds an empty or unreadable lock file is left to the run that creates it (it writes its record right after)
WRITING_GRACE_S = 2.0


class RunFolderInUseError(GansrError, RuntimeError):
    """Another live process trains in this run folder."""


def _process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux ``/proc/<pid>/stat`` field 22); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _boot_id() -> str | None:
    """This boot of the machine (Linux ``/proc/sys/kernel/random/boot_id``); None elsewhere."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _gone(holder: dict) -> str | None:
    """Why the process that wrote ``holder`` (on this host) no longer runs, or None when it may still run."""
    pid = holder["pid"]
    if holder.get("boot_id") not in (None, _boot_id()):
        return f"PID {pid} ran before this machine restarted"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"PID {pid} is no longer running"
    except PermissionError:
        pass  # another user's process: running
    current, recorded = _process_start(pid), holder.get("proc_start")
    if recorded is not None and current is not None and current != recorded:
        return f"PID {pid} is no longer running; that PID now belongs to another process, started later"
    return None


def _parse(content: bytes) -> dict:
    """A lock file's record; ``{}`` when it is not one (empty: being written, or never finished)."""
    try:
        holder = json.loads(content)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else {}


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
                "proc_start": _process_start(os.getpid()), "boot_id": _boot_id(),
                "slurm_job_id": os.environ.get("SLURM_JOB_ID")}

    def _holder(self) -> dict | None:
        """The lock's content; None when it vanished meanwhile; ``{}`` when unreadable (being or never written)."""
        try:
            return _parse(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError:
            return {}

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
                if not holder and time.time() - self._mtime() < WRITING_GRACE_S:  # another run is writing it
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
        """Remove the lock file ``holder`` was read from when its process is gone (or it is unreadable, or this is the
        same SLURM job, requeued); raise :class:`RunFolderInUseError` when it may still run. The caller then tries to
        create the file again (``O_EXCL``).

        Several runs may judge the same stale file at once. Each opens it and takes an exclusive ``flock`` on it;
        under the lock, the file is removed only while the path still names that very file (same inode) with the
        same content as judged (and, for an unreadable file, still older than :data:`WRITING_GRACE_S`). A run that finds the path replaced (another took over and created its own lock)
        removes nothing and tries again, so it never deletes a live run's lock.
        """
        pid, host = holder.get("pid"), holder.get("host")
        same_job = mine["slurm_job_id"] is not None and holder.get("slurm_job_id") == mine["slurm_job_id"]
        gone = _gone(holder) if holder and not same_job and host == mine["host"] else None
        if holder and not same_job and gone is None:
            where = "this host" if host == mine["host"] else f"host {host}"
            raise RunFolderInUseError(
                f"run folder {self.path.parent} is in use by PID {pid} on {where} (since {holder.get('started')}): "
                f"wait for that run to end, give another run_name=..., or, if that run is gone, delete {self.path}")
        why = "unreadable" if not holder else f"the same SLURM job {mine['slurm_job_id']}, requeued" if same_job else gone
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below; closing releases the flock
        except FileNotFoundError:
            return  # another run removed it meanwhile
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                replaced = os.stat(self.path).st_ino != os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                return
            if replaced or _parse(handle.read()) != holder:
                return
            if not holder and time.time() - os.fstat(handle.fileno()).st_mtime < WRITING_GRACE_S:
                return  # an unreadable file judged stale was replaced by a new one being written right now
            print(f"[gansr] taking over the stale lock {self.path} ({why})", file=sys.stderr)
            self.path.unlink()

    def __exit__(self, *exc) -> None:
        if self.owned:
            self.path.unlink(missing_ok=True)
            self.owned = False


class HydraRunLock(Callback):
    """Hydra callback (``hydra.callbacks.run_lock`` in ``conf/train.yaml``): takes the run folder's lock before
    Hydra writes ``.hydra/`` and ``train.log`` into it, so a refused second run changes nothing there; removed when
    the run ends. ``train()`` takes the same lock (re-entered here), which covers runs composed without
    ``@hydra.main`` (demo, tables, tests) and every job of a multirun.

    A new run (no ``resume``) in a folder that holds an earlier run is refused here too
    (:func:`gansr.training.run_folder.check_new_run_folder`), before Hydra rewrites that run's ``.hydra/``.

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
            check_new_run_folder(config.hydra.run.dir, config.resume if slurm_restart_count() == 0 else "auto")
        except (RunFolderInUseError, RunFolderTakenError) as err:
            if self.lock is not None:
                self.lock.__exit__(None, None, None)
            sys.exit(f"gansr-train: error: {err}")
        atexit.register(self.lock.__exit__, None, None, None)

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        if self.lock is not None:
            self.lock.__exit__(None, None, None)
