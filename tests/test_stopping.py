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

REPO = Path(__file__).resolve().parents[1]


def tiny_psnr(hr_folder: Path, tmp_path: Path) -> list[str]:
    """A tiny PSNR-stage run that trains until it is stopped, one checkpoint every 2 iterations."""
    return ["experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={hr_folder}",
            f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=2",
            "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
            "trainer.max_steps=1000000", "trainer.val_check_interval=100000", "trainer.log_every_n_steps=1",
            "trainer.enable_progress_bar=false", "callbacks.checkpoint.every_n_iterations=2", "logger=csv",
            f"paths.root_dir={tmp_path}"]


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the command ended early (exit {proc.returncode})"
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.2)


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
