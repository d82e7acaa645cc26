"""The single-node SLURM cluster of tests/slurm/cluster.sh, started once for the SLURM tests (or skipped with the
reason)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from slurmtools import CLUSTER


@pytest.fixture(scope="session")
def slurm_cluster():
    """``cluster.sh start`` (installs slurm-wlm + munge when missing and root); SLURM_CONF for clients and jobs.
    Stopped at the end of the session when this fixture started it."""
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("SLURM tests: slurm-wlm is not installed and there is no apt-get to install it")
    conf_dir = Path(os.environ.get("GANSR_SLURM_DIR", "/tmp/gansr-slurm"))
    was_running = all(_alive(conf_dir / f"{name}.pid") for name in ("slurmctld", "slurmd"))
    done = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode == 3:
        pytest.skip(f"SLURM tests: {done.stderr.strip()}")
    assert done.returncode == 0, f"cluster.sh start failed:\n{done.stdout}\n{done.stderr}"
    conf = re.search(r"export SLURM_CONF=(\S+)", done.stdout).group(1)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    yield conf
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    if not was_running:
        subprocess.run(["bash", str(CLUSTER), "stop"], check=False, timeout=60)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False

