"""Resuming a sweep (docs/resume.md "Resuming a sweep"): the same ``-m`` command with the first session's
``hydra.sweep.dir`` and ``resume=auto`` continues every job from the newest checkpoint in its own job folder."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow  # two sessions of a two-job tiny sweep in subprocesses
def test_a_sweep_resumed_with_its_sweep_dir_continues_each_job(tiny_hr_folder, tmp_path):
    from test_console import tiny_gan_overrides

    sweep = tmp_path / "sweep"
    overrides = [o for o in tiny_gan_overrides(tiny_hr_folder, tmp_path, iterations=2)
                 if not o.startswith(("logger=", "trainer.val_check_interval"))]
    command = [sys.executable, "-m", "gansr.cli.train", "-m", *overrides, "loss.adversarial_weight=5e-3,1e-2",
               f"hydra.sweep.dir={sweep}", "trainer.val_check_interval=100"]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert sorted(p.name for p in (sweep / "0" / "checkpoints").glob("iter_*.ckpt")) == ["iter_000002.ckpt"]

    again = subprocess.run([*command, "trainer.max_steps=4", "resume=auto"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    for job in ("0", "1"):
        assert f"resume=auto: continuing from {sweep / job / 'checkpoints'}" in again.stdout
        assert (sweep / job / "checkpoints" / "iter_000004.ckpt").is_file()
    assert again.stdout.count("(iteration 2)") >= 2  # each job continued from its own iteration-2 checkpoint
