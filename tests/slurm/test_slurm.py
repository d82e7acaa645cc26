"""gansr on a real (single-node, CPU) SLURM: sweeps through hydra/launcher=submitit_slurm, requeue after the
scheduler's signal, SIGTERM, and a paper table queued with afterok dependencies. tests/slurm/cluster.sh starts the
cluster (or the tests skip, saying why)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
import yaml

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.utils.checkpoint import safe_load

from slurmtools import REPO, job_env, job_field, queued, submit_sweep, tiny_run, wait_for, wait_until_done

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def submitit_logs(sweep, job_id: str) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted((sweep / ".submitit").glob(f"{job_id}/*_log.*")))


def test_two_point_multirun_runs_both_jobs_in_their_own_folders(slurm_cluster, tiny_hr_folder, tmp_path):
    sweep = tmp_path / "sweep"
    jobs = submit_sweep([*tiny_run(tiny_hr_folder, tmp_path), "trainer.max_steps=2",
                         "callbacks.checkpoint.every_n_iterations=2", "seed=0,1", f"hydra.sweep.dir={sweep}"])
    assert len(jobs) == 2 and len(set(jobs)) == 2
    wait_until_done(jobs)
    for num, job in enumerate(jobs):
        run = sweep / str(num)
        assert job_field(job, "JobState") == "COMPLETED", submitit_logs(sweep, job)[-3000:]
        assert safe_load(run / "checkpoints" / "last.ckpt")["iteration"] == 2
        assert (run / "generator.pth").is_file() and (run / "train.log").is_file()
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        assert config["seed"] == num  # this point's own folder
        assert config["wandb_group"] == "sweep-sweep"  # one W&B group for the sweep
        assert "Job completed successfully" in submitit_logs(sweep, job)


def test_signal_before_the_time_limit_saves_requeues_and_finishes_like_an_uninterrupted_run(
        slurm_cluster, tiny_hr_folder, tmp_path):
    """submitit's time-limit signal (SIGUSR2, ``signal_delay_s`` before ``--time``; sent here with scancel as soon
    as training runs, instead of waiting for slurmctld's 30 s time-limit check): last.ckpt at the end of the batch,
    submitit requeues, the requeued job continues from last.ckpt in the same folder and ends at max_steps with the
    weights of an uninterrupted run."""
    steps = 60
    overrides = [*tiny_run(tiny_hr_folder, tmp_path), f"trainer.max_steps={steps}",
                 "callbacks.checkpoint.every_n_iterations=2"]
    sweep = tmp_path / "sweep"
    [job] = submit_sweep([*overrides, "hydra.launcher.max_num_timeout=1", f"hydra.sweep.dir={sweep}"])
    script = next((sweep / ".submitit").glob("*/*_submission.sh")).read_text()
    assert "#SBATCH --signal=USR2@120" in script and "#SBATCH --time=10" in script
    checkpoints = sweep / "0" / "checkpoints"
    wait_for(lambda: any(checkpoints.glob("*.ckpt")), "training started", timeout=240)
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    wait_until_done([job], timeout=300)

    logs = submitit_logs(sweep, job)
    assert job_field(job, "JobState") == "COMPLETED" and job_field(job, "Restarts") == "1", logs[-3000:]
    saved = re.search(r"SIGUSR2 received: saved \S+last\.ckpt at iteration (\d+)", logs)
    assert saved and int(saved.group(1)) < steps, logs[-3000:]
    # requeued once (Restarts=1 above), by gansr's own handler ("requeueing SLURM job") or submitit's ("Requeued job")
    assert ("requeueing SLURM job" in logs or "Requeued job" in logs) and "resume=auto: continuing from" in logs
    interrupted = safe_load(checkpoints / "last.ckpt")
    assert interrupted["iteration"] == steps

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the jobs run with OMP_NUM_THREADS=1 (job_env); float sums depend on the thread count
    try:
        train(compose_config(overrides, tmp_path / "straight"))
    finally:
        torch.set_num_threads(threads)
    straight = safe_load(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    assert straight["state_dict"].keys() == interrupted["state_dict"].keys()
    for key, value in straight["state_dict"].items():
        assert torch.equal(interrupted["state_dict"][key], value), key
    exported = torch.load(sweep / "0" / "generator.pth", map_location="cpu", weights_only=True)["params"]
    for key, value in torch.load(tmp_path / "straight" / "generator.pth", map_location="cpu", weights_only=True)["params"].items():
        assert torch.equal(exported[key], value), key


def test_scancel_term_leaves_a_valid_last_checkpoint(slurm_cluster, tiny_hr_folder, tmp_path):
    """A plain sbatch job (``srun gansr-train``, docs/slurm.md): ``scancel --signal=TERM`` reaches every process of
    the job step; the run saves last.ckpt at the end of the batch and ends without being requeued."""
    run = tmp_path / "run"
    train_command = " ".join([sys.executable, "-m", "gansr.cli.train", *tiny_run(tiny_hr_folder, tmp_path),
                              "trainer.max_steps=1000000", "callbacks.checkpoint.every_n_iterations=2",
                              "callbacks.checkpoint.save_last=false", f"hydra.run.dir={run}"])
    job = subprocess.run(["sbatch", "--parsable", "--time=10", f"--output={tmp_path / 'job.out'}",
                          f"--wrap=srun {train_command}"], cwd=REPO, env=job_env(), capture_output=True, text=True,
                         check=True).stdout.strip()
    wait_for(lambda: any((run / "checkpoints").glob("*.ckpt")), "training started", timeout=240)
    subprocess.run(["scancel", "--signal=TERM", job], check=True)
    wait_until_done([job], timeout=120)
    output = (tmp_path / "job.out").read_text(errors="replace")
    assert "SIGTERM received: saved" in output, output[-3000:]
    assert job_field(job, "JobState") == "COMPLETED" and job_field(job, "Restarts") == "0"
    assert safe_load(run / "checkpoints" / "last.ckpt")["iteration"] >= 2


def test_table_command_queues_stages_then_rows_with_afterok(slurm_cluster, tmp_path):
    """``python -m gansr.tables --table mask --scale paper --execute --slurm`` for EDSR-GAN+Mask: its PSNR stage (the
    x2 model; the mask paper starts the x4 GAN from it) and the row after it (held, so nothing runs; then
    cancelled)."""
    command = [sys.executable, "-m", "gansr.tables", "--table", "mask", "--scale", "paper", "--execute", "--slurm",
               "--rows", "EDSR-GAN+Mask", "--output-root", str(tmp_path / "runs"), "--no-wandb", "--override",
               "hydra.launcher.gpus_per_node=null", "hydra.launcher.mem_gb=null", "hydra.launcher.cpus_per_task=1",
               "++hydra.launcher.additional_parameters.hold=true"]
    done = subprocess.run(command, cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    jobs = dict(re.findall(r"(\w+): job (\d+)", done.stdout.strip().split("\n")[-1]))
    try:
        assert list(jobs) == ["pretrain_edsr_psnr_x2", "edsr_gan_mask"]
        stage, row = jobs.values()
        assert job_field(stage, "Dependency") == "(null)"
        assert job_field(row, "Dependency").startswith(f"afterok:{stage}")
        assert len(queued(list(jobs.values()))) == 2
    finally:
        subprocess.run(["scancel", *jobs.values()], check=False)


def test_ddp_under_srun_runs_one_process_per_task(slurm_cluster, tiny_hr_folder, tmp_path):
    """``srun --ntasks-per-node=2 gansr-train trainer=ddp trainer.devices=2``: Lightning takes ranks and world size
    from SLURM (gloo on CPU here; one process per GPU on a cluster). The datamodule divides the global batch by the
    world size (tests/test_ddp.py)."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "gansr.cli.train", *tiny_run(tiny_hr_folder, tmp_path), "trainer=ddp",
               "trainer.accelerator=cpu", "trainer.devices=2", "trainer.num_nodes=1", "trainer.precision=32-true",
               "trainer.benchmark=false", "speed=cpu", "trainer.max_steps=2", "callbacks.checkpoint.every_n_iterations=2",
               f"hydra.run.dir={run}"]
    done = subprocess.run(["srun", "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=10",
                           "--job-name=ddp", *command], cwd=REPO, env=job_env(), capture_output=True, text=True,
                          timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    assert safe_load(run / "checkpoints" / "last.ckpt")["iteration"] == 2
