"""One signal stops the whole command with its checkpoint (docs/reliability.md "Stopping a command"): a single run
whose console reader has gone (``| tee`` and Ctrl-C), a ``-m`` sweep, ``gansr-demo``, a table's chain."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gansr.utils.checkpoint import safe_load
from test_preemption import wait_for

REPO = Path(__file__).resolve().parents[1]


def tiny_psnr(hr_folder: Path, tmp_path: Path, max_steps: int = 1_000_000, val_every: int = 100_000) -> list[str]:
    """A tiny PSNR-stage run (by default one that trains until it is stopped), a checkpoint every 2 iterations."""
    return ["experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={hr_folder}",
            f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=2",
            "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
            f"trainer.max_steps={max_steps}", f"trainer.val_check_interval={val_every}", "trainer.log_every_n_steps=1",
            "trainer.enable_progress_bar=false", "callbacks.checkpoint.every_n_iterations=2", "logger=csv",
            f"paths.root_dir={tmp_path}"]


@pytest.mark.slow
def test_closed_stdout_then_ctrl_c_still_saves_and_exits_0(tiny_hr_folder, tmp_path):
    """``gansr-train ... 2>err | tee out.log``, then Ctrl-C: ``tee`` is gone before the run prints its stop line.
    Before: BrokenPipeError, Hydra's "Error executing job", exit 1, no generator.pth."""
    run = tmp_path / "run"
    with open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "gansr.cli.train", *tiny_psnr(tiny_hr_folder, tmp_path),
                                 f"hydra.run.dir={run}"], cwd=REPO, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True)
        try:
            wait_for(lambda: (run / "checkpoints" / "iter_000002.ckpt").is_file(), proc, "the first checkpoint")
            proc.stdout.close()  # the reader (tee) ends
            os.kill(proc.pid, signal.SIGINT)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    errors = (tmp_path / "err").read_text()
    assert proc.returncode == 0, errors[-3000:]
    assert "BrokenPipeError" not in errors and "Error executing job" not in errors
    assert safe_load(run / "checkpoints" / "last.ckpt")["iteration"] >= 2
    assert (run / "generator.pth").is_file()
    log = (run / "train.log").read_text()
    assert "the reader of stdout has gone" in log
    assert "training stopped at iteration" in log


def test_pipe_safe_stream_drops_output_after_the_reader_goes(tmp_path):
    """Writes and flushes after the reader closed the pipe neither raise nor block; the descriptor is pointed at
    /dev/null, so the wrapped stream's own final flush succeeds too."""
    from gansr.utils.console_streams import PipeSafeStream

    read_end, write_end = os.pipe()
    raw = os.fdopen(write_end, "w", buffering=1)
    stream = PipeSafeStream(raw, "stdout")
    stream.write("seen\n")
    assert os.read(read_end, 100) == b"seen\n"
    os.close(read_end)
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python sets it for its main program
    try:
        stream.write("lost\n" * 10_000)
        stream.flush()
        assert stream.closed_reader
        stream.write("after\n")
        raw.flush()
    finally:
        signal.signal(signal.SIGPIPE, previous)
        raw.close()


def start(command: list[str], cwd: Path) -> subprocess.Popen:
    """``command`` in its own process group (as a terminal's foreground job), output to a pipe read at the end."""
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def ctrl_c(proc: subprocess.Popen, signum: int = signal.SIGINT) -> str:
    """Signal the whole group, as a terminal's Ctrl-C does; returns the command's output."""
    try:
        os.killpg(proc.pid, signum)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return output


@pytest.mark.slow
def test_one_ctrl_c_stops_a_whole_sweep(tiny_hr_folder, tmp_path):
    """``gansr-train -m ... seed=0,1``: Ctrl-C during job 0 saves job 0 and job 1 never starts (before: job 1
    started at once), exit 0."""
    sweep = tmp_path / "sweep"
    proc = start([sys.executable, "-m", "gansr.cli.train", "-m", *tiny_psnr(tiny_hr_folder, tmp_path), "seed=0,1",
                  f"hydra.sweep.dir={sweep}"], REPO)
    wait_for(lambda: (sweep / "0" / "checkpoints" / "iter_000002.ckpt").is_file(), proc, "job 0's first checkpoint")
    output = ctrl_c(proc)
    assert proc.returncode == 0, output[-3000:]
    assert safe_load(sweep / "0" / "checkpoints" / "last.ckpt")["iteration"] >= 2
    assert (sweep / "0" / "generator.pth").is_file()
    assert not (sweep / "1").exists(), output[-3000:]
    assert f"sweep stopped in job 0 (saved); later jobs were not started. Continue: the same command with " \
           f"hydra.sweep.dir={sweep} resume=auto" in output


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_stops_the_demo_before_its_gan_stage(signum, tmp_path):
    """``gansr-demo``: a signal during the PSNR stage saves it; the GAN stage never starts and no table or grid is
    written (before: the GAN stage started at once, and results.md came from half-trained models with exit 0)."""
    out = tmp_path / "demo"
    proc = start([sys.executable, "-m", "gansr.cli.demo", "--out", str(out), "trainer.max_steps=100000",
                  "trainer.val_check_interval=100000", "callbacks.checkpoint.every_n_iterations=2",
                  "data.patch_size=32", "data.batch_size=2", "data.num_workers=0"], tmp_path)
    wait_for(lambda: (out / "psnr" / "checkpoints" / "iter_000002.ckpt").is_file(), proc, "the PSNR stage's checkpoint")
    output = ctrl_c(proc, signum)
    assert proc.returncode == 128 + signum, output[-3000:]
    assert (out / "psnr" / "generator.pth").is_file()
    iteration = safe_load(out / "psnr" / "checkpoints" / "last.ckpt")["iteration"]
    assert f"stopped in stage 1 of 2 (PSNR stage) at iteration {iteration}" in output
    assert not (out / "gan").exists()
    assert not (out / "results.md").exists() and not (out / "results.csv").exists() and not (out / "grid.png").exists()
    assert "[demo] done" not in output


def test_a_stopped_row_stops_the_table_and_writes_no_results(shared_data, tmp_path, monkeypatch):
    """A smoke table: SIGINT during the first row's training saves that row and stops the table; the second row
    does not start and the table's results.md stays as it was."""
    import shutil

    import gansr.tables.spec as spec
    from gansr.tables import run_table
    from gansr.training.preemption import PreemptionCheckpoint

    train_hr = tmp_path / "T91" / "HR"
    train_hr.mkdir(parents=True)
    for image in sorted((shared_data / "T91" / "HR").iterdir())[:2]:
        shutil.copy(image, train_hr)
    monkeypatch.setattr(spec, "EXPERIMENTS_DIR", tmp_path / "experiments")
    shutil.copytree(REPO / "experiments" / "srgan", tmp_path / "experiments" / "srgan")
    results = tmp_path / "experiments" / "srgan" / "results.md"
    before = results.read_bytes() if results.exists() else None
    original = PreemptionCheckpoint.on_train_batch_end

    def ctrl_c_at_iteration_2(self, trainer, pl_module, *args):
        if pl_module.iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, trainer, pl_module, *args)

    monkeypatch.setattr(PreemptionCheckpoint, "on_train_batch_end", ctrl_c_at_iteration_2)
    with pytest.raises(Exception, match="stopped at row 1 of 2") as stopped:  # StoppedBySignal
        run_table("srgan", "smoke", iterations=50, eval_limit=1, data_root=shared_data, train_hr=train_hr,
                  cache_dir=tmp_path / "cache", output_root=tmp_path / "runs", rows=["SRResNet-MSE", "SRGAN-VGG54"])
    assert type(stopped.value).__name__ == "StoppedBySignal" and stopped.value.exit_code == 128 + signal.SIGINT
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    assert safe_load(tmp_path / "runs" / runs[0] / "checkpoints" / "last.ckpt")["iteration"] == 2
    assert (results.read_bytes() if results.exists() else None) == before


def test_a_paper_chain_passes_the_signal_to_its_command_once_and_starts_no_other(tmp_path):
    """``--scale paper --execute``: the running command (its own session) gets the signal once from this process,
    saves and exits 0; the chain then stops with StoppedBySignal instead of starting the next command."""
    import threading

    from gansr.tables.run import run_stage_command
    from gansr.training.preemption import StoppedBySignal

    marker, ready = tmp_path / "saved", tmp_path / "ready"
    child = ("import signal, sys, time, pathlib\n"
             "got = []\n"
             "signal.signal(signal.SIGINT, lambda s, f: got.append(s))\n"
             f"pathlib.Path({str(ready)!r}).touch()\n"
             "while not got: time.sleep(0.05)\n"
             "time.sleep(0.5)\n"  # a second signal would arrive now
             f"pathlib.Path({str(marker)!r}).write_text(str(len(got)))\n")
    ctrl_c_when_ready = lambda: (wait_until(ready.exists), os.kill(os.getpid(), signal.SIGINT))  # noqa: E731
    threading.Thread(target=ctrl_c_when_ready, daemon=True).start()
    with pytest.raises(StoppedBySignal, match=r"(?s)SIGINT: stopped during .* \(exit 0\); the later commands were not "
                                              r"started") as stopped:
        run_stage_command([sys.executable, "-c", child])
    assert marker.read_text() == "1"  # the command got the signal exactly once, and saved
    assert stopped.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
