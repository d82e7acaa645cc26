"""Helpers of the SLURM tests: submit tiny gansr runs to the clusters of tests/slurm/cluster.sh (one node) and
tests/slurm/multinode.sh (two), wait for jobs. The SLURM commands take ``client``: the prefix that runs a client
command where the controller is reachable (none for cluster.sh; :data:`ON_MN1` for multinode.sh)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLUSTER = Path(__file__).with_name("cluster.sh")
MULTINODE = Path(__file__).with_name("multinode.sh")
#: runs a client command (sbatch, srun, squeue, scontrol) on node mn1 of the multinode.sh cluster
ON_MN1 = ("bash", str(MULTINODE), "on", "mn1")
#: launcher settings for the test cluster: CPU only, one CPU per job, short limits
LAUNCHER = [
    "hydra/launcher=submitit_slurm",
    "hydra.launcher.gpus_per_node=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=null",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.signal_delay_s=120",
]


def job_env() -> dict[str, str]:
    """The environment of the launching process, which sbatch passes on to the jobs: this checkout first."""
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env["PATH"]))
    return env


def tiny_run(hr_folder: Path, tmp_path: Path) -> list[str]:
    """A tiny PSNR run on CPU: 4 images, batch 4 (one batch per epoch: resume is exact on one device today)."""
    return [
        "experiment=esrgan_psnr",
        "data=folder",
        f"data.train.hr_dir={hr_folder}",
        f"data.train.lr_cache_dir={tmp_path / 'lr'}",
        "data.val=[]",
        "data.patch_size=32",
        "data.batch_size=4",
        "data.num_workers=0",
        "generator.num_feat=8",
        "generator.num_block=1",
        "generator.num_grow_ch=4",
        "trainer.val_check_interval=100000",
        "trainer.enable_progress_bar=false",
        "logger=csv",
    ]


def submit_sweep(overrides: list[str]) -> list[str]:
    """``gansr-train -m hydra/launcher=submitit_slurm ...``; returns the queued job ids (the command returns
    once they are queued)."""
    done = subprocess.run([sys.executable, "-m", "gansr.cli.train", "-m", *LAUNCHER, *overrides], cwd=REPO,
                          env=job_env(), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return re.findall(r"^\[gansr\] submitted SLURM job (\S+):", done.stdout, re.MULTILINE)


def queued(job_ids: list[str], client: Sequence[str] = ()) -> list[str]:
    """The jobs among ``job_ids`` that SLURM still holds (pending, running, completing)."""
    out = subprocess.run([*client, "squeue", "-h", "-o", "%i %T", "-j", ",".join(job_ids)], capture_output=True,
                         text=True, check=False)
    return out.stdout.split("\n")[:-1] if out.returncode == 0 else []


def wait_until_done(job_ids: list[str], timeout: float = 300, client: Sequence[str] = ()) -> None:
    deadline = time.monotonic() + timeout
    while left := queued(job_ids, client):
        assert time.monotonic() < deadline, f"jobs still queued after {timeout:.0f} s: {left}"
        time.sleep(1)


def wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.5)


def job_field(job_id: str, name: str, client: Sequence[str] = ()) -> str:
    """One ``scontrol show job`` field (JobState, Restarts, Dependency, ...)."""
    out = subprocess.run([*client, "scontrol", "show", "job", job_id], capture_output=True, text=True,
                         check=True).stdout
    return re.search(rf"\b{name}=(\S*)", out).group(1)
