"""How ``gansr-train`` ends when it cannot go on: a refused request, a full disk, a divergence, an image gone mid-run,
a stop signal before the first iteration. Each ends with one line (``gansr-train: error: ...``, exit 1) or, for a
signal, exit 0; the reason is also in ``<run>/train.log``; nothing that was trained is lost (docs/reliability.md)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.utils.atomic import is_temporary
from gansr.utils.checkpoint import safe_load

REPO = Path(__file__).resolve().parents[1]


def tiny_psnr(hr_folder: Path, tmp_path: Path) -> list[str]:
    return ["experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={hr_folder}",
            f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=2",
            "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
            "trainer.val_check_interval=100000", "trainer.enable_progress_bar=false", "logger=csv"]


def write_wrapper(tmp_path: Path, patch: str) -> Path:
    """A ``python -m gansr.cli.train`` with ``patch`` (Python) run first: how a test injects a full disk or slow
    data preparation into the real command."""
    path = tmp_path / "wrapped_train.py"
    path.write_text(f"import runpy, sys\n{patch}\nsys.argv = ['gansr-train', *sys.argv[1:]]\n"
                    "runpy.run_module('gansr.cli.train', run_name='__main__')\n")
    return path


def command(run: Path, tmp_path: Path, overrides: list[str], script: Path | None = None) -> list[str]:
    head = [str(script)] if script else ["-m", "gansr.cli.train"]
    return [sys.executable, *head, *overrides, f"paths.root_dir={tmp_path}", f"hydra.run.dir={run}"]


def run_train(run: Path, tmp_path: Path, overrides: list[str], script: Path | None = None,
              env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(run, tmp_path, overrides, script), cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})})


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and len(lines) <= 5, result.stderr[-3000:]  # Lightning's GPU/TPU lines
    assert lines[-1].startswith("gansr-train: error: "), lines
    assert all(word in lines[-1] for word in words), lines[-1]
    return lines[-1]


def test_refused_request_prints_no_config_tree_and_says_why_in_train_log(tiny_hr_folder, tmp_path):
    run = tmp_path / "run"
    result = run_train(run, tmp_path, [*tiny_psnr(tiny_hr_folder, tmp_path), "trainer.max_steps=4",
                                       "resume=/nonexistent/last.ckpt"])
    assert_one_line_error(result, "resume=/nonexistent/last.ckpt: no such checkpoint file")
    assert "config (resolved)" not in result.stdout and len(result.stdout.splitlines()) < 5  # was ~165 lines
    # a refused request changes nothing in the run folder (docs/reliability.md): its reason is on stderr only
    assert not (run / "train.log").exists() or "resume=/nonexistent" not in (run / "train.log").read_text()


def test_missing_dataset_is_one_line_and_in_train_log(tmp_path):
    """Before: a 30-line traceback around the good message. The message lists every missing set, one a line."""
    run = tmp_path / "run"
    result = run_train(run, tmp_path, [*tiny_psnr(tmp_path / "no_such_folder", tmp_path), "trainer.max_steps=4"])
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    message = result.stderr[result.stderr.index("gansr-train: error: "):].splitlines()
    assert message == ["gansr-train: error: 1 dataset(s) not found:",
                       f"- train: image folder {tmp_path / 'no_such_folder'} does not exist."], message
    assert "config (resolved)" not in result.stdout
    assert "the run failed" in (run / "train.log").read_text() and not (run / "run.lock").exists()


def test_full_disk_during_a_checkpoint_is_one_line_naming_the_reason(tiny_hr_folder, tmp_path):
    """Writes of a checkpoint's temporary file go to /dev/full (ENOSPC from the kernel). Before: 57 lines,
    ``basic_ios::clear``, no "No space left", and the temporary file stayed."""
    script = write_wrapper(tmp_path, (
        "import builtins\nimport gansr.utils.atomic as atomic\n"
        "atomic.open = lambda path, mode='r', *a, **k: builtins.open("
        "'/dev/full' if atomic.is_temporary(path) and str(path).endswith('.ckpt') else path, mode, *a, **k)"))
    run = tmp_path / "run"
    result = run_train(run, tmp_path, [*tiny_psnr(tiny_hr_folder, tmp_path), "trainer.max_steps=6",
                                       "callbacks.checkpoint.every_n_iterations=3"], script)
    line = assert_one_line_error(result, "could not write the checkpoint", "iter_000003.ckpt", "No space left on device",
                                 "resume=auto")
    assert not [p for p in (run / "checkpoints").iterdir() if is_temporary(p)]
    assert f"the run failed after 3 iteration(s): {line.removeprefix('gansr-train: error: ')}" in (run / "train.log").read_text()
    assert not (run / "run.lock").exists()


def test_divergence_is_one_line_with_the_logs_iteration_and_no_false_checkpoint_claim(tiny_hr_folder, tmp_path):
    """NaN from the first iteration: the message says iteration 1 (the log's ``[iter 1]``; it said 0) and that no
    checkpoint was written (it said "the last checkpoint on disk is the last good one" with none on disk)."""
    run = tmp_path / "run"
    result = run_train(run, tmp_path, [*tiny_psnr(tiny_hr_folder, tmp_path), "trainer.max_steps=4",
                                       "module.pixel_loss.weight=nan"])
    assert_one_line_error(result, "non-finite value in the G step at iteration 1:", "g/pixel=nan",
                          "No checkpoint was written before it")
    assert "the last checkpoint on disk is the last good one" not in result.stderr
    assert "the run failed after 0 iteration(s): non-finite value" in (run / "train.log").read_text()


def test_divergence_after_a_checkpoint_names_it(tiny_hr_folder, tmp_path):
    from gansr.losses.pixel import PixelLoss
    from gansr.training.divergence import DivergenceError

    overrides = [*tiny_psnr(tiny_hr_folder, tmp_path), "trainer.max_steps=8", "callbacks.checkpoint.every_n_iterations=3"]
    original = PixelLoss.forward

    def nan_from_iteration_5(self, sr, hr):
        nan_from_iteration_5.calls += 1
        return original(self, sr, hr) * (float("nan") if nan_from_iteration_5.calls >= 5 else 1.0)

    nan_from_iteration_5.calls = 0
    PixelLoss.forward = nan_from_iteration_5
    try:
        with pytest.raises(DivergenceError) as info:
            train(compose_config(overrides, tmp_path / "run"))
    finally:
        PixelLoss.forward = original
    checkpoints = tmp_path / "run" / "checkpoints"
    assert "at iteration 5:" in str(info.value)
    named = [f"The newest checkpoint, {checkpoints / name} (iteration 3), is from before it" for name in
             ("last.ckpt", "iter_000003.ckpt")]  # one file, two names (a hard link)
    assert any(text in str(info.value) for text in named), str(info.value)
    assert safe_load(checkpoints / "last.ckpt")["iteration"] == 3  # nothing saved on the way out


def test_training_images_deleted_mid_run_keep_the_iterations_done(tiny_hr_folder, tmp_path):
    """The images vanish after iteration 4 (checkpoints every 3): ``last.ckpt`` holds iteration 4 (before, the
    iterations since iteration 3 were lost), the error is one a command prints in one line, and the run resumes
    once the images are back."""
    import shutil

    from gansr.training.psnr_module import PSNRModule
    from gansr.utils.errors import GansrError

    hr = tmp_path / "HR"
    shutil.copytree(tiny_hr_folder, hr)
    overrides = [*tiny_psnr(hr, tmp_path), "trainer.max_steps=10", "callbacks.checkpoint.every_n_iterations=3"]
    original = PSNRModule.training_step

    def step(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        if self.iteration == 4:
            shutil.move(hr, tmp_path / "moved_away")
        return out

    PSNRModule.training_step = step
    try:
        with pytest.raises((GansrError, OSError)) as info:
            train(compose_config(overrides, tmp_path / "run"))
    finally:
        PSNRModule.training_step = original
    assert str(hr) in str(info.value)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert safe_load(last)["iteration"] == 4
    log = (tmp_path / "run" / "train.log").read_text()
    assert f"saved {last} at iteration 4 before stopping on the error" in log and "the run failed after 4 iteration(s)" in log
    shutil.move(tmp_path / "moved_away", hr)
    result = train(compose_config([*overrides, "resume=auto"], tmp_path / "run"))
    assert result.iteration == 10
    assert f"resume=auto: continuing from {last} (iteration 4)" in (tmp_path / "run" / "train.log").read_text()


def test_validation_image_deleted_mid_run_keeps_the_iterations_done(tiny_hr_folder, tmp_path):
    """The validation set's image vanishes before the validation at iteration 5: last.ckpt holds iteration 5."""
    import shutil

    from gansr.training.psnr_module import PSNRModule
    from gansr.utils.errors import GansrError

    val_hr = tmp_path / "val" / "HR"
    shutil.copytree(tiny_hr_folder, val_hr)
    val = (f"{{_target_:gansr.data.datasets.HRFolderDataset,name:tinyval,hr_dir:'{val_hr}',scale:4,"
           f"lr_cache_dir:'{tmp_path / 'val_lr'}'}}")
    overrides = [*tiny_psnr(tiny_hr_folder, tmp_path), f"data.val=[{val}]", "trainer.max_steps=10",
                 "trainer.val_check_interval=5", "callbacks.checkpoint.every_n_iterations=3"]
    original = PSNRModule.training_step

    def step(self, batch, batch_idx):
        if self.iteration == 4:
            shutil.rmtree(val_hr.parent)
        return original(self, batch, batch_idx)

    PSNRModule.training_step = step
    try:
        with pytest.raises((GansrError, OSError)) as info:
            train(compose_config(overrides, tmp_path / "run"))
    finally:
        PSNRModule.training_step = original
    assert str(val_hr) in str(info.value)
    assert safe_load(tmp_path / "run" / "checkpoints" / "last.ckpt")["iteration"] == 5


# ------------------------------------------------------------------ a stop signal before the first iteration
SLOW_DATA_PREPARATION = ("import time\nimport gansr.data.datamodule as datamodule\n"
                         "def slow(self):\n    print('PREPARING', flush=True)\n    time.sleep(120)\n"
                         "datamodule.SRDataModule.prepare_data = slow")


def start_and_signal_when(marker: str, signum: int, cmd: list[str], env: dict | None = None) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**(env or os.environ), "PYTHONPATH": str(REPO / "src")})
    lines = []
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == marker:
                proc.send_signal(signum)
                break
            assert time.monotonic() < deadline, "".join(lines)[-3000:]
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(lines) + output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_data_preparation_stops_cleanly(signum, tiny_hr_folder, tmp_path):
    """Before: killed (exit 143), ``run.lock`` left behind. Now: exit 0, said, lock released, nothing written."""
    run = tmp_path / "run"
    script = write_wrapper(tmp_path, SLOW_DATA_PREPARATION)
    code, output = start_and_signal_when("PREPARING", signum,
                                         command(run, tmp_path, [*tiny_psnr(tiny_hr_folder, tmp_path)], script))
    assert code == 0, output[-3000:]
    assert f"{signal.Signals(signum).name} received: stopped before the first iteration" in output
    assert not (run / "run.lock").exists() and not (run / "checkpoints").exists() and not (run / "generator.pth").exists()
    assert "stopped before the first iteration" in (run / "train.log").read_text()


def test_signal_during_data_preparation_requeues_a_slurm_job(tiny_hr_folder, tmp_path):
    """Under SLURM (faked: SLURM_JOB_ID and an ``scontrol`` on PATH that records its arguments), SIGUSR1 before the
    first iteration requeues the job, which starts again with resume=auto."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol_calls"
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    (bin_dir / "scontrol").chmod(0o755)
    run = tmp_path / "run"
    script = write_wrapper(tmp_path, SLOW_DATA_PREPARATION)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SUBMITIT_"))}
    env.update(SLURM_JOB_ID="4242", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, output = start_and_signal_when("PREPARING", signal.SIGUSR1,
                                         command(run, tmp_path, [*tiny_psnr(tiny_hr_folder, tmp_path)], script), env)
    assert code == 0, output[-3000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    assert "requeueing SLURM job 4242" in output and not (run / "run.lock").exists()


def test_signal_while_python_imports_stops_cleanly(tiny_hr_folder, tmp_path):
    """A signal that arrives after the command caught the signals but before training was set up (imports, config
    composition) is acted on as soon as ``train()`` starts: exit 0, no lock, nothing trained."""
    run = tmp_path / "run"
    script = tmp_path / "slow_imports.py"
    script.write_text("import runpy, sys, time\nfrom gansr.utils.stop_signals import catch_stop_signals\n"
                      "catch_stop_signals()\nprint('IMPORTING', flush=True)\ntime.sleep(3)\n"
                      "sys.argv = ['gansr-train', *sys.argv[1:]]\nfrom gansr.cli.train import main\nmain()\n")
    code, output = start_and_signal_when("IMPORTING", signal.SIGTERM,
                                         command(run, tmp_path, [*tiny_psnr(tiny_hr_folder, tmp_path)], script))
    assert code == 0, output[-3000:]
    assert "SIGTERM received: stopped before the first iteration" in output
    assert not (run / "run.lock").exists() and not (run / "checkpoints").exists()
