"""Shared pytest fixtures: the ../shared/data folder (skipped when absent) and tiny-model helpers."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GANSR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The staged benchmark data of ../shared/data (Set5, Set14, BSD100, T91, fixtures, NIQE parameters)."""
    if not (SHARED_DATA / "Set5" / "HR").is_dir():
        pytest.skip(f"needs ../shared/data (looked in {SHARED_DATA}); set GANSR_SHARED_DATA to its path")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_hr_folder(tmp_path_factory) -> Path:
    """Four random 48x48 RGB PNGs in ``<tmp>/HR``: training data for tiny runs."""
    from gansr.data.image_io import write_image

    folder = tmp_path_factory.mktemp("hr") / "HR"
    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(folder / f"img{i}.png", rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    return folder


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The output folder of one full ``gansr-demo`` (as ``make demo`` runs it: 1 thread, offline; about 2 min of CPU
    on the 2-core development machine), run once per session in a subprocess. Tests that use it are marked
    ``xdist_group("demo")`` so that one pytest-xdist worker runs it for all of them."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo") / "demo_outputs"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "gansr.cli.demo", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"gansr-demo failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return out

