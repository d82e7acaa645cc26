"""Pre-emption (SIGTERM/SIGUSR1 -> last.ckpt, exit 0), atomic checkpoint writes, and the last good checkpoint
surviving a divergence."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.training.checkpointing import AtomicCheckpointIO
from gansr.training.divergence import DivergenceError
from gansr.utils.checkpoint import safe_load

REPO = Path(__file__).resolve().parents[1]




def tiny_psnr(tiny_hr_folder: Path, tmp_path: Path) -> list[str]:
    return [
        "experiment=esrgan_psnr",
        "data=folder",
        f"data.train.hr_dir={tiny_hr_folder}",
        f"data.train.lr_cache_dir={tmp_path / 'lr'}",
        "data.val=[]",
        "data.patch_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        "generator.num_feat=8",
        "generator.num_block=1",
        "generator.num_grow_ch=4",
        "trainer.val_check_interval=100000",
        "trainer.enable_progress_bar=false",
        "logger=csv",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_signal_saves_last_checkpoint_and_exits_0(signum, tiny_hr_folder, tmp_path):
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    command = [
        sys.executable, "-m", "gansr.cli.train", *tiny_psnr(tiny_hr_folder, tmp_path),
        "trainer.max_steps=1000000",
        "callbacks.checkpoint.every_n_iterations=3",  # its files tell that training runs
        "callbacks.checkpoint.save_last=false",  # so last.ckpt can only come from the pre-emption callback
        f"paths.root_dir={tmp_path}",
        f"hydra.run.dir={run}",
    ]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(checkpoints.glob("*.ckpt")):
            assert proc.poll() is None, f"gansr-train ended early:\n{proc.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "training did not start within 120 s"
            time.sleep(0.2)
        assert not (checkpoints / "last.ckpt").exists()
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output[-3000:]
    assert signal.Signals(signum).name in output
    saved = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["iteration"] >= 3
    assert not list(checkpoints.glob("*.tmp"))


def test_sigusr1_in_process_stops_after_the_batch(tiny_hr_folder, tmp_path):
    """SIGUSR1 raised from inside a training step: the run stops at the end of that batch with last.ckpt."""
    from gansr.training.psnr_module import PSNRModule

    original = PSNRModule.training_step

    def step(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        if self.iteration == 3:
            os.kill(os.getpid(), signal.SIGUSR1)
        return out

    cfg = compose_config([*tiny_psnr(tiny_hr_folder, tmp_path), "trainer.max_steps=50",
                          "callbacks.checkpoint.every_n_iterations=1000"], tmp_path / "run")
    previous = signal.getsignal(signal.SIGUSR1)
    PSNRModule.training_step = step
    try:
        train(cfg)
    finally:
        PSNRModule.training_step = original
    assert safe_load(tmp_path / "run" / "checkpoints" / "last.ckpt")["iteration"] == 3
    assert signal.getsignal(signal.SIGUSR1) == previous  # handlers put back


def test_failed_save_leaves_the_previous_checkpoint_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"iteration": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpo")  # a partial write, then the crash
        raise OSError("disk full")

    monkeypatch.setattr("gansr.training.checkpointing.torch.save", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"iteration": 2, "w": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert io.load_checkpoint(path)["iteration"] == 1


def test_divergence_leaves_the_last_good_checkpoint_unchanged(tiny_hr_folder, tmp_path):
    from gansr.losses.pixel import PixelLoss

    overrides = [*tiny_psnr(tiny_hr_folder, tmp_path), "trainer.max_steps=4", "callbacks.checkpoint.every_n_iterations=2"]
    train(compose_config(overrides, tmp_path / "run"))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    assert safe_load(last)["iteration"] == 4

    original = PixelLoss.forward
    PixelLoss.forward = lambda self, sr, hr: original(self, sr, hr) * float("nan")
    try:
        with pytest.raises(DivergenceError, match="iteration 4"):
            train(compose_config([*overrides, "trainer.max_steps=8", "resume=auto"], tmp_path / "run"))
    finally:
        PixelLoss.forward = original
    assert last.read_bytes() == before
    assert sorted(p.name for p in last.parent.iterdir()) == sorted(p.name for p in last.parent.glob("*.ckpt"))
