"""Pre-emption (SIGTERM/SIGUSR1/first SIGINT to the whole process group, workers included -> last.ckpt +
generator.pth, exit 0, no validation after the signal; a second SIGINT aborts), atomic checkpoint writes, and the
last good checkpoint surviving a divergence."""
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


def start_in_own_process_group(overrides: list[str], run: Path, tmp_path: Path) -> subprocess.Popen:
    """``python -m gansr.cli.train`` as ``setsid`` would start it: its own process group, so ``os.killpg`` signals
    it and its DataLoader workers together, as SLURM, ``timeout`` and a terminal's Ctrl-C do."""
    command = [sys.executable, "-m", "gansr.cli.train", *overrides, f"paths.root_dir={tmp_path}", f"hydra.run.dir={run}"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"gansr-train ended early:\n{proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT])
def test_group_signal_with_workers_saves_last_checkpoint_and_exits_0(signum, tiny_hr_folder, tmp_path):
    """The signal reaches the main process and both DataLoader workers: the workers ignore it, the main process
    saves ``last.ckpt`` and ``generator.pth`` and exits 0 (before: exit 1, "DataLoader worker ... is killed by
    signal: Terminated", no ``last.ckpt``)."""
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    overrides = [*tiny_psnr(tiny_hr_folder, tmp_path), "data.num_workers=2", "trainer.max_steps=1000000",
                 "callbacks.checkpoint.every_n_iterations=3",  # its files tell that training runs
                 "callbacks.checkpoint.save_last=false"]  # so last.ckpt can only come from the pre-emption callback
    proc = start_in_own_process_group(overrides, run, tmp_path)
    try:
        wait_for(lambda: (checkpoints / "iter_000003.ckpt").is_file(), proc, "the first checkpoint")
        assert not (checkpoints / "last.ckpt").exists()
        os.killpg(proc.pid, signum)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output[-3000:]
    assert "killed by signal" not in output and "exited unexpectedly" not in output
    iteration = safe_load(checkpoints / "last.ckpt")["iteration"]
    assert iteration >= 3
    assert f"{signal.Signals(signum).name} received: saved {checkpoints / 'last.ckpt'} at iteration {iteration}" in output
    assert (run / "generator.pth").is_file()
    assert not list(checkpoints.glob("*.tmp")) and not list(checkpoints.glob("*-v*.ckpt"))
    assert not (run / "run.lock").exists()


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
        result = train(cfg)
    finally:
        PSNRModule.training_step = original
    assert safe_load(tmp_path / "run" / "checkpoints" / "last.ckpt")["iteration"] == 3
    assert signal.getsignal(signal.SIGUSR1) == previous  # handlers put back
    assert result.preempted_by == signal.SIGUSR1 and result.iteration == 3  # what a requeueing caller reads


def with_validation(tiny_hr_folder: Path, tmp_path: Path) -> list[str]:
    """The tiny run with a validation set (the training images, whole)."""
    val = (f"{{_target_:gansr.data.datasets.HRFolderDataset,name:tinyval,hr_dir:'{tiny_hr_folder}',scale:4,"
           f"lr_cache_dir:'{tmp_path / 'val_lr'}'}}")
    return [*tiny_psnr(tiny_hr_folder, tmp_path), f"data.val=[{val}]"]


def signal_at(monkeypatch, method: str, when, signum: int = signal.SIGUSR1) -> list[int]:
    """Patch ``PSNRModule.<method>`` to send ``signum`` to this process when ``when(module)``; returns the list
    of iterations at which validation steps ran."""
    from gansr.training.psnr_module import PSNRModule

    validated: list[int] = []
    original_step, original_val = PSNRModule.training_step, PSNRModule.validation_step

    def training_step(self, batch, batch_idx):
        out = original_step(self, batch, batch_idx)
        if method == "training_step" and when(self):
            os.kill(os.getpid(), signum)
        return out

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        validated.append(self.iteration)
        if method == "validation_step" and when(self):
            os.kill(os.getpid(), signum)
        return original_val(self, batch, batch_idx, dataloader_idx)

    monkeypatch.setattr(PSNRModule, "training_step", training_step)
    monkeypatch.setattr(PSNRModule, "validation_step", validation_step)
    return validated


def test_no_validation_between_the_signal_and_the_exit(tiny_hr_folder, tmp_path, monkeypatch):
    """Lightning validates once more when a run is told to stop (7.3 s of 9.4 s with the tiny model on Set5):
    after a signal the run saves and exits without touching the validation set."""
    validated = signal_at(monkeypatch, "training_step", lambda module: module.iteration == 3)
    cfg = compose_config([*with_validation(tiny_hr_folder, tmp_path), "trainer.max_steps=50",
                          "trainer.val_check_interval=40", "callbacks.checkpoint.every_n_iterations=1000"],
                         tmp_path / "run")
    result = train(cfg)
    assert result.preempted_by == signal.SIGUSR1
    assert validated == []
    assert safe_load(tmp_path / "run" / "checkpoints" / "last.ckpt")["iteration"] == 3
    assert (tmp_path / "run" / "generator.pth").is_file()


def test_signal_during_validation_saves_at_its_end(tiny_hr_folder, tmp_path, monkeypatch):
    """A signal while validating: that validation ends, the run saves at its iteration and stops (no next batch,
    no second validation)."""
    validated = signal_at(monkeypatch, "validation_step", lambda module: True)
    cfg = compose_config([*with_validation(tiny_hr_folder, tmp_path), "trainer.max_steps=50",
                          "trainer.val_check_interval=2", "callbacks.checkpoint.every_n_iterations=1000"],
                         tmp_path / "run")
    result = train(cfg)
    assert result.preempted_by == signal.SIGUSR1 and result.iteration == 2
    assert validated == [2] * 4  # one pass over the 4 validation images
    assert safe_load(tmp_path / "run" / "checkpoints" / "last.ckpt")["iteration"] == 2


def test_second_ctrl_c_aborts_without_saving(tiny_hr_folder, tmp_path, monkeypatch):
    """The first SIGINT asks for a checkpoint at the end of the batch; a second one during that batch aborts."""
    from gansr.training.psnr_module import PSNRModule

    original = PSNRModule.training_step

    def step(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        if self.iteration == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(PSNRModule, "training_step", step)
    cfg = compose_config([*tiny_psnr(tiny_hr_folder, tmp_path), "trainer.max_steps=50",
                          "callbacks.checkpoint.every_n_iterations=1000"], tmp_path / "run")
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as aborted:
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, previous)  # Lightning ignores SIGINT after an abort
    assert aborted.value.code == 1
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
    assert not (tmp_path / "run" / "generator.pth").exists()
    assert not (tmp_path / "run" / "run.lock").exists()


def test_failed_save_leaves_the_previous_checkpoint_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"iteration": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpo")  # a partial write (into the open temporary file), then the crash
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
        with pytest.raises(DivergenceError, match="iteration 5"):  # the 5th: the log's [iter 5/8]
            train(compose_config([*overrides, "trainer.max_steps=8", "resume=auto"], tmp_path / "run"))
    finally:
        PixelLoss.forward = original
    assert last.read_bytes() == before
    assert sorted(p.name for p in last.parent.iterdir()) == sorted(p.name for p in last.parent.glob("*.ckpt"))


class _StuckAfterTwo(torch.utils.data.Dataset):
    """Two items, then a worker that hangs (as a stuck file system would)."""

    def __len__(self) -> int:
        return 100

    def __getitem__(self, index: int) -> torch.Tensor:
        if index >= 2:
            time.sleep(600)
        return torch.zeros(1)


def test_workers_ignore_a_foreign_sigterm_but_not_their_dataloaders():
    """A SIGTERM from another process (the group signal) leaves a worker running; the DataLoader can still end a
    stuck worker with its own SIGTERM (``terminate()``), so shutting down never hangs."""
    from torch.utils.data import DataLoader

    from gansr.data.datamodule import worker_init

    batches = iter(DataLoader(_StuckAfterTwo(), batch_size=1, num_workers=1, worker_init_fn=worker_init))
    next(batches), next(batches)
    worker = batches._workers[0]
    subprocess.run(["kill", "-TERM", str(worker.pid)], check=True)  # sent by another process
    time.sleep(1)
    assert worker.is_alive()
    batches._shutdown_workers()  # joins for 5 s, then terminate(): a SIGTERM from the worker's parent
    assert not worker.is_alive()
