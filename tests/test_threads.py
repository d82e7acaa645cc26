"""``speed.threads``: PyTorch's CPU threads from the CPUs this process may use (docs/speed.md "CPU threads")."""
from __future__ import annotations

import os

import pytest
import torch

from gansr.training.threads import choose_threads, usable_cpus

CPUS = len(os.sched_getaffinity(0))


def test_usable_cpus_follow_affinity_and_slurm():
    assert usable_cpus({}) == (CPUS, "CPU affinity")
    assert usable_cpus({"SLURM_CPUS_PER_TASK": "1"}) == (1, "SLURM_CPUS_PER_TASK")
    assert usable_cpus({"SLURM_CPUS_PER_TASK": str(CPUS + 8)}) == (CPUS, "CPU affinity")  # never more than affinity


def test_affinity_is_read_not_the_machines_core_count(monkeypatch):
    """A job given 8 of a node's 64 cores (taskset, cgroups): 8, not 64 (PyTorch's default)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert choose_threads(None, devices=1, num_workers=0, env={}) == (8, "auto: 8 CPUs (CPU affinity) / 1 process - 0 DataLoader workers")


@pytest.mark.parametrize("devices,workers,env,expected", [
    (1, 0, {}, 16),
    (1, 1, {}, 15),                                   # one CPU left to the DataLoader worker
    (4, 2, {}, 2),                                    # Lightning's 4 DDP processes share the 16 CPUs: 4 each - 2
    ([0, 1], 0, {}, 8),                               # devices as a list of ids
    ("0,1", 0, {}, 8),
    (4, 2, {"SLURM_CPUS_PER_TASK": "6", "SLURM_NTASKS": "4"}, 4),  # one srun task per process, 6 CPUs each
    (4, 0, {"LOCAL_WORLD_SIZE": "8"}, 2),             # torchrun
    (1, 20, {}, 1),                                   # at least one
    (1, None, {}, 12),                                # data.num_workers: null = min(4, cpus)
])
def test_auto_divides_cpus_among_processes_and_workers(devices, workers, env, expected, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert choose_threads(None, devices=devices, num_workers=workers, env=env)[0] == expected


def test_explicit_setting_and_omp_num_threads():
    assert choose_threads(3, env={"OMP_NUM_THREADS": "1"}) == (3, "speed.threads")
    assert choose_threads(None, env={"OMP_NUM_THREADS": "2"}) == (2, "OMP_NUM_THREADS")
    for bad in (0, -1, 1.5, "two", True):
        with pytest.raises(ValueError, match="speed.threads"):
            choose_threads(bad)


def test_speed_threads_is_applied_and_shown_in_the_start_line(tiny_hr_folder, tmp_path, capsys):
    from gansr.cli import compose_config
    from gansr.cli.train import train

    before = torch.get_num_threads()
    try:
        train(compose_config(["experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={tiny_hr_folder}",
                              f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.val=[]", "data.patch_size=32",
                              "data.batch_size=2", "data.num_workers=0", "generator.num_feat=8",
                              "generator.num_block=1", "generator.num_grow_ch=4", "trainer.max_steps=1",
                              "trainer.enable_progress_bar=false", "logger=csv", "speed.threads=2"], tmp_path / "run"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "iterations 0 -> 1; 2 CPU threads (speed.threads); a log line every" in out
