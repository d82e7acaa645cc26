"""The SLURM clusters of the tests in this folder, each started once per session (or the tests skip, saying why):
``slurm_cluster`` (tests/slurm/cluster.sh, one node) and ``multinode_cluster`` (tests/slurm/multinode.sh, two
nodes in network namespaces)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from slurmtools import CLUSTER, MULTINODE


def start(script: Path, skip_codes: tuple[int, ...]) -> str:
    """``<script> start``; its SLURM_CONF. Skips with the script's one-line reason when it exits with one of
    ``skip_codes``; otherwise a failure to start fails the test (after stopping what did start)."""
    done = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode in skip_codes:
        pytest.skip(f"SLURM tests: {done.stderr.strip()}")
    if done.returncode != 0:
        subprocess.run(["bash", str(script), "stop"], check=False, timeout=120)
        pytest.fail(f"{script.name} start failed:\n{done.stdout}\n{done.stderr}")
    return re.search(r"export SLURM_CONF=(\S+)", done.stdout).group(1)


@pytest.fixture(scope="session")
def slurm_cluster():
    """``cluster.sh start`` (installs slurm-wlm + munge when missing and root); SLURM_CONF for clients and jobs.
    Stopped at the end of the session when this fixture started it."""
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("SLURM tests: slurm-wlm is not installed and there is no apt-get to install it")
    conf_dir = Path(os.environ.get("GANSR_SLURM_DIR", "/tmp/gansr-slurm"))
    was_running = all(_alive(conf_dir / f"{name}.pid") for name in ("slurmctld", "slurmd"))
    conf = start(CLUSTER, skip_codes=(3,))
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    yield conf
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    if not was_running:
        subprocess.run(["bash", str(CLUSTER), "stop"], check=False, timeout=60)


@pytest.fixture(scope="session")
def multinode_cluster():
    """``multinode.sh start`` (installs slurm-wlm + munge when missing); skipped only where this machine does not
    permit network namespaces (exit 4). Clients run on node mn1 (slurmtools.ON_MN1), which sets SLURM_CONF.
    Always stopped at the end of the session -- every process on the nodes, the daemons, the namespaces."""
    conf = start(MULTINODE, skip_codes=(4,))
    try:
        yield conf
    finally:
        subprocess.run(["bash", str(MULTINODE), "stop"], check=False, timeout=120)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False
