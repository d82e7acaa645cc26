"""One live run per run folder (``<run>/run.lock``): a second live run is refused before it writes anything, a
stale lock (dead PID on this host, or the same SLURM job requeued) is taken over with a message, and a run folder
is free again once its run ended (resume works)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.training.run_lock import RunFolderInUseError, RunLock, _process_start
from gansr.utils.checkpoint import safe_load

REPO = Path(__file__).resolve().parents[1]


def write_lock(folder: Path, pid: int, host: str | None = None, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.lock"
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": "2026-12-04T18:00:00Z",
                                "proc_start": _process_start(pid), "slurm_job_id": None, **extra}))
    return path


@pytest.fixture
def live_pid():
    """The PID of a live process that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def tiny_run(hr_folder: Path, out: Path, *extra: str):
    overrides = [
        "experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={hr_folder}",
        f"data.train.lr_cache_dir={out.parent / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=2",
        "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
        "trainer.max_steps=2", "trainer.enable_progress_bar=false", "callbacks.checkpoint.every_n_iterations=2",
        "logger=csv", *extra,
    ]
    return train(compose_config(overrides, out))


def test_a_second_live_run_in_the_folder_is_refused_before_writing(tiny_hr_folder, tmp_path, live_pid):
    run = tmp_path / "run"
    lock = write_lock(run, live_pid)
    with pytest.raises(RunFolderInUseError, match=rf"in use by PID {live_pid} on this host .*delete {lock}"):
        tiny_run(tiny_hr_folder, run)
    assert sorted(p.name for p in run.iterdir()) == ["run.lock"]  # nothing written, the lock left to its owner
    assert json.loads(lock.read_text())["pid"] == live_pid


def test_a_lock_from_another_host_is_refused(tmp_path):
    write_lock(tmp_path, 1, host="some-other-node")
    with pytest.raises(RunFolderInUseError, match="in use by PID 1 on host some-other-node"):
        RunLock(tmp_path).__enter__()


def test_a_stale_lock_is_taken_over_with_a_message_and_the_run_resumes(tiny_hr_folder, tmp_path, dead_pid, capsys):
    run = tmp_path / "run"
    write_lock(run, dead_pid)
    tiny_run(tiny_hr_folder, run)
    assert f"taking over the stale lock {run / 'run.lock'} (PID {dead_pid} is no longer running)" in capsys.readouterr().err
    assert not (run / "run.lock").exists()  # released at the end
    resumed = tiny_run(tiny_hr_folder, run, "trainer.max_steps=4", "resume=auto")  # the first run ended
    assert resumed.iteration == 4 and safe_load(run / "checkpoints" / "last.ckpt")["iteration"] == 4


def test_a_reused_pid_does_not_hold_the_lock(tmp_path, live_pid, capsys):
    """The PID is alive but the process started at another time than the locking one: a reused PID, stale."""
    start = _process_start(live_pid)
    if start is None:
        pytest.skip("needs /proc (Linux)")
    write_lock(tmp_path, live_pid, proc_start=start - 1)
    with RunLock(tmp_path) as lock:
        assert lock.owned
    assert (f"stale lock {tmp_path / 'run.lock'} (PID {live_pid} is no longer running; that PID now belongs to "
            "another process, started later)") in capsys.readouterr().err


def test_a_lock_from_before_a_restart_is_stale(tmp_path, live_pid, capsys):
    """A lock written before the machine restarted (another boot id): its PID, even if running now, is another
    process's (issue 19 item 11: "PID 1 is no longer running" was said of a running PID)."""
    write_lock(tmp_path, live_pid, boot_id="00000000-0000-0000-0000-000000000000")
    with RunLock(tmp_path) as lock:
        assert lock.owned and json.loads(lock.path.read_text())["boot_id"]
    assert f"(PID {live_pid} ran before this machine restarted)" in capsys.readouterr().err


def _contend(folders: list[str], start, tried, results) -> None:
    """One of the processes of :func:`test_one_winner_when_runs_take_over_a_stale_lock_together`: per folder, wait
    for the others, try the lock, report, wait until every process has tried, then release."""
    for folder in folders:
        start.wait()
        try:
            lock = RunLock(folder).__enter__()
        except RunFolderInUseError:
            lock = None
        results.put((folder, lock is not None and lock.owned))
        tried.wait()
        if lock is not None:
            lock.__exit__(None, None, None)


@pytest.mark.parametrize("stale", ["dead PID", "unreadable"])
def test_one_winner_when_runs_take_over_a_stale_lock_together(stale, tmp_path, dead_pid):
    """Issue 19 item 6: the take-over removed the file after reading it, so it could remove the lock another
    process had just created: of 4 processes released together over a stale lock, two won in 5 of 100 trials.
    Here: 500 trials, 4 processes (forked once), exactly one winner every time, the others refused. The stale lock
    names a dead PID, or is an empty file a minute old (a run killed between creating and writing it). 500, not
    100: the code before lost about 1 trial in 100 here, so 100 trials missed it in about 1 run of 3 (about 3 s a
    case on the 2-core machine)."""
    import multiprocessing
    import os
    import time

    trials, contenders = 500, 4
    folders = [str(tmp_path / f"trial{t:03d}") for t in range(trials)]
    context = multiprocessing.get_context("fork")
    start, tried, results = context.Barrier(contenders + 1), context.Barrier(contenders + 1), context.Queue()
    processes = [context.Process(target=_contend, args=(folders, start, tried, results)) for _ in range(contenders)]
    for process in processes:
        process.start()
    winners = {}
    try:
        for folder in folders:
            lock = write_lock(Path(folder), dead_pid)
            if stale == "unreadable":
                lock.write_bytes(b"")
                os.utime(lock, (time.time() - 60, time.time() - 60))
            start.wait(timeout=60)
            won = [results.get(timeout=60) for _ in range(contenders)]
            winners[folder] = sum(owned for _, owned in won)
            tried.wait(timeout=60)
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    assert {n: sum(1 for w in winners.values() if w == n) for n in set(winners.values())} == {1: trials}


def test_the_same_slurm_job_requeued_takes_over_its_lock(tmp_path, monkeypatch, capsys):
    """A requeued SLURM job keeps its job id and may land on another node while its old lock remains."""
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    write_lock(tmp_path, 1, host="old-node", slurm_job_id="4242")
    with RunLock(tmp_path) as lock:
        assert lock.owned and json.loads(lock.path.read_text())["slurm_job_id"] == "4242"
    assert "the same SLURM job 4242, requeued" in capsys.readouterr().err
    assert not (tmp_path / "run.lock").exists()


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    with RunLock(tmp_path) as outer:
        with RunLock(tmp_path) as inner:
            assert outer.owned and not inner.owned
        assert (tmp_path / "run.lock").exists()  # the inner one leaves it to the outer holder
    assert not (tmp_path / "run.lock").exists()


def test_gansr_train_refuses_before_hydra_writes_the_folder(tiny_hr_folder, tmp_path, live_pid):
    """On the command line the lock is taken before Hydra writes ``.hydra/`` and ``train.log`` into the folder."""
    run = tmp_path / "run"
    write_lock(run, live_pid)
    command = [sys.executable, "-m", "gansr.cli.train", "experiment=esrgan_psnr", "data=folder",
               f"data.train.hr_dir={tiny_hr_folder}", f"paths.root_dir={tmp_path}", f"hydra.run.dir={run}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"gansr-train: error: run folder {run} is in use by PID "
                                                            f"{live_pid}")
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in run.iterdir()) == ["run.lock"]


def test_only_global_rank_zero_takes_the_lock(tmp_path, monkeypatch, live_pid):
    """The other ranks of a DDP run (processes Lightning or srun start with RANK/LOCAL_RANK) share rank 0's folder."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    write_lock(tmp_path, live_pid)  # rank 0's lock, held by another live process
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    with RunLock(tmp_path) as lock:
        assert not lock.owned
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == live_pid
