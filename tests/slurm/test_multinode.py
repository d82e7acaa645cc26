"""gansr on a real two-node SLURM: tests/slurm/multinode.sh builds nodes mn1 and mn2 on this host (network, UTS
and mount namespaces joined by a veth pair, docs/slurm.md "Tests"), so ranks on different nodes talk over TCP between
two addresses. CPU, gloo, a tiny demo_psnr. The jobs run the sbatch script of docs/slurm.md as written (read from the
page), with CPU options on the sbatch command line and tiny overrides as its arguments.

One uninterrupted 2-node run (module fixture) is the reference of three tests: a 1-node 2-process run, a requeued
2-node run and a 2-node run that lost a node and was continued with resume=auto all end with its weights, bit for
bit. Why that must hold: each rank computes its half of the global batch alone (the same items on rank r whatever
the node: the sampler deals by global rank), and an all-reduce of two summands gives the same float whichever order
or transport; a resume restores weights, optimizer, schedule and the sampler's position from the checkpoint.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gansr.utils.checkpoint import safe_load

from slurmtools import ON_MN1, REPO, job_env, job_field, wait_for, wait_until_done

pytestmark = [pytest.mark.slurm, pytest.mark.multinode, pytest.mark.slow]

STEPS = 150
#: the sbatch options of the doc's submit line for this CPU-only cluster: 2 nodes x 1 process, 1 CPU each
SBATCH_CPU = ["--job-name=mn", "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1", "--time=10"]
#: trainer=ddp is a GPU preset: gloo on CPU, fp32
CPU = ["trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.benchmark=false", "speed=cpu"]


def tiny_demo(steps: int = STEPS) -> list[str]:
    """demo_psnr shrunk: an RRDBNet of 8 features and 1 block, global batch 4 (2 per rank), checkpoints every 10
    iterations, validation once at the end."""
    return ["experiment=demo_psnr", *CPU, "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
            "data.patch_size=32", "data.batch_size=4", "data.num_workers=0", f"trainer.max_steps={steps}",
            f"trainer.val_check_interval={steps}", "trainer.log_every_n_steps=10", "trainer.enable_progress_bar=false",
            "callbacks.checkpoint.every_n_iterations=10", "callbacks.val_images.crop_size=32"]


def client(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A SLURM client command on node mn1 (the controller's address exists only on the nodes); must succeed."""
    done = subprocess.run([*ON_MN1, *args], cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode == 0, f"{' '.join(args)}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def doc_script() -> str:
    """The multi-node sbatch script of docs/slurm.md, as written there."""
    doc = (REPO / "docs" / "slurm.md").read_text()
    return re.search(r"```bash\n(#!/bin/bash\n# multinode\.sbatch.*?)```", doc, re.DOTALL).group(1)


def submit(folder: Path, overrides: list[str], *options: str) -> str:
    """``sbatch <SBATCH_CPU> <options> multinode.sbatch <overrides>`` from ``folder`` (its outputs/ and logs/)."""
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    script = folder / "multinode.sbatch"
    script.write_text(doc_script())
    return client("sbatch", "--parsable", *SBATCH_CPU, f"--chdir={folder}", *options, str(script),
                  *overrides).stdout.strip()


def finish(folder: Path, job: str, timeout: float = 600) -> str:
    """Wait for ``job`` to leave the queue; its log (all its starts: the script appends)."""
    wait_until_done([job], timeout=timeout, client=ON_MN1)
    return (folder / "logs" / f"mn-{job}.out").read_text(errors="replace")


def run_folder(folder: Path, job: str) -> Path:
    """The run folder a job of the script writes without run_name: <job name>-<job id> (conf/train.yaml)."""
    return folder / "outputs" / "demo" / f"mn-{job}"


def assert_same_weights(run: Path, reference: Path) -> None:
    """last.ckpt (generator and optimizer state) and generator.pth of ``run`` equal those of ``reference``."""
    mine, theirs = safe_load(run / "checkpoints" / "last.ckpt"), safe_load(reference / "checkpoints" / "last.ckpt")
    assert mine["iteration"] == theirs["iteration"] == STEPS
    assert mine["state_dict"].keys() == theirs["state_dict"].keys()
    for key, value in theirs["state_dict"].items():
        assert torch.equal(mine["state_dict"][key], value), key
    exported = torch.load(run / "generator.pth", map_location="cpu", weights_only=True)["params"]
    for key, value in torch.load(reference / "generator.pth", map_location="cpu", weights_only=True)["params"].items():
        assert torch.equal(exported[key], value), key


@pytest.fixture(scope="module")
def uninterrupted(multinode_cluster, tmp_path_factory) -> Path:
    """The doc's script on 2 nodes x 1 process to STEPS iterations, not interrupted; its run folder."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    start = time.monotonic()
    job = submit(folder, tiny_demo())
    log = finish(folder, job)
    assert job_field(job, "JobState", ON_MN1) == "COMPLETED", log[-3000:]
    assert job_field(job, "NodeList", ON_MN1) == "mn[1-2]"
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    print(f"[multinode] uninterrupted 2-node run of {STEPS} iterations: {time.monotonic() - start:.0f} s")
    return run_folder(folder, job)


def test_gloo_all_reduce_across_two_nodes(multinode_cluster, tmp_path):
    """``srun -N2``: one process per node, rendezvous at the first node's name (resolved by the nodes' own
    /etc/hosts), an all-reduce over TCP between the two addresses."""
    script = tmp_path / "all_reduce.py"
    script.write_text(
        "import socket, torch, torch.distributed as dist\n"
        "from lightning_fabric.plugins.environments import SLURMEnvironment\n"
        "env = SLURMEnvironment()\n"
        "dist.init_process_group('gloo', init_method=f'tcp://{env.main_address}:{env.main_port}',\n"
        "                        rank=env.global_rank(), world_size=env.world_size())\n"
        "value = torch.tensor([env.global_rank() + 1.0])\n"
        "dist.all_reduce(value)\n"
        "print(f'rank {env.global_rank()} on {socket.gethostname()} via {env.main_address}: {value.item()}')\n"
        "dist.barrier()\n"
        "dist.destroy_process_group()\n")
    done = client("srun", "--nodes=2", "--ntasks-per-node=1", "--time=5", sys.executable, str(script), timeout=300)
    assert sorted(done.stdout.split("\n")[:-1]) == ["rank 0 on mn1 via mn1: 3.0", "rank 1 on mn2 via mn1: 3.0"], done.stderr


def test_two_nodes_end_with_the_weights_of_two_processes_on_one_node(uninterrupted, tmp_path):
    """The same script on 1 node x 2 processes: the same world size and global ranks, so the same weights."""
    job = submit(tmp_path, tiny_demo(), "--nodes=1", "--ntasks-per-node=2")
    log = finish(tmp_path, job)
    assert job_field(job, "JobState", ON_MN1) == "COMPLETED", log[-3000:]
    assert job_field(job, "NumNodes", ON_MN1) == "1"
    assert_same_weights(run_folder(tmp_path, job), uninterrupted)


def test_requeued_two_node_job_resumes_and_ends_like_an_uninterrupted_run(uninterrupted, tmp_path):
    """``scontrol requeue`` of the running job: SLURM sends SIGTERM to both nodes, each rank stops after the same
    batch, rank 0 writes last.ckpt; the job starts again on both nodes (SLURM_RESTART_COUNT=1), finds the same run
    folder without being told (its name comes from the job) and continues from last.ckpt to STEPS."""
    job = submit(tmp_path, tiny_demo())
    checkpoints = run_folder(tmp_path, job) / "checkpoints"
    wait_for(lambda: any(checkpoints.glob("iter_*.ckpt")), "training started", timeout=300)
    client("scontrol", "requeue", job)
    log = finish(tmp_path, job)
    assert job_field(job, "JobState", ON_MN1) == "COMPLETED" and job_field(job, "Restarts", ON_MN1) == "1", log[-3000:]
    saved = re.search(r"SIGTERM received: saved \S+last\.ckpt at iteration (\d+)", log)
    assert saved and 0 < int(saved.group(1)) < STEPS, log[-3000:]
    assert f"resume=auto: continuing from {checkpoints / 'last.ckpt'} (iteration {saved.group(1)})" in log, log[-3000:]
    print(f"[multinode] requeued at iteration {saved.group(1)} of {STEPS}")
    assert_same_weights(run_folder(tmp_path, job), uninterrupted)


def test_a_node_lost_mid_job_leaves_a_run_that_resume_auto_continues(uninterrupted, tmp_path):
    """The job's processes on mn2 are killed (SIGKILL: what the rest of the job sees when a node dies: the
    connection to its rank drops). The rank on mn1 fails at its next all-reduce and the job ends FAILED; the run
    folder keeps its checkpoints and logs. Submitting the script again with ``run_name=<that folder> resume=auto``
    continues from the newest checkpoint and ends with the weights of an uninterrupted run: nothing is lost."""
    job = submit(tmp_path, tiny_demo())
    run = run_folder(tmp_path, job)
    wait_for(lambda: len(list((run / "checkpoints").glob("iter_*.ckpt"))) >= 2, "two checkpoints", timeout=300)
    killed = kill_tasks_on_node(job, "mn2")
    assert killed, "no process of the job found on mn2"
    log = finish(tmp_path, job)
    assert job_field(job, "JobState", ON_MN1) == "FAILED", log[-3000:]
    newest = max(int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("iter_*.ckpt"))
    assert 10 <= newest < STEPS

    again = submit(tmp_path, [*tiny_demo(), f"run_name={run.name}", "resume=auto"])
    log = finish(tmp_path, again)
    assert job_field(again, "JobState", ON_MN1) == "COMPLETED", log[-3000:]
    assert re.search(rf"resume=auto: continuing from \S+ \(iteration {newest}\)", log), log[-3000:]
    assert_same_weights(run, uninterrupted)
    assert sorted(p.name for p in (run / "checkpoints").glob("iter_*.ckpt")) == [
        f"iter_{i:06d}.ckpt" for i in range(10, STEPS + 1, 10)]
    history = (run / "train.log").read_text()  # both starts, one file
    assert f"[iter 10/{STEPS}]" in history and f"[iter {STEPS}/{STEPS}]" in history


def kill_tasks_on_node(job: str, node: str) -> list[int]:
    """SIGKILL the processes of ``job``'s tasks on ``node`` (those with its SLURM_JOB_ID); their PIDs. SLURM's own
    slurmstepd is left alone: with it gone, srun would wait for that node's step until the time limit."""
    pids = subprocess.run(["ip", "netns", "pids", node], capture_output=True, text=True, check=True).stdout.split()
    victims = []
    for pid in map(int, pids):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"SLURM_JOB_ID={job}".encode() in environ:
            victims.append(pid)
    for pid in victims:
        subprocess.run(["kill", "-KILL", str(pid)], check=False)
    return victims


def test_table_stage_chain_runs_on_two_nodes(multinode_cluster, tiny_hr_folder, tmp_path):
    """``python -m gansr.tables --table srgan --scale paper --execute --slurm --rows SRGAN-MSE`` with the launcher
    and trainer on 2 nodes x 1 process (tiny, 2 iterations each): the PSNR stage (SRResNet) runs on both nodes,
    then the row, queued ``afterok`` on it, starts from the stage's last.ckpt on both nodes."""
    runs = tmp_path / "runs"
    two_nodes = ["hydra.launcher.nodes=2", "hydra.launcher.tasks_per_node=1", "hydra.launcher.gpus_per_node=null",
                 "hydra.launcher.mem_gb=null", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10",
                 "trainer=ddp", "trainer.num_nodes=2", "trainer.devices=1", *CPU]
    tiny = ["data=folder", f"data.train.hr_dir={tiny_hr_folder}", f"data.train.lr_cache_dir={tmp_path / 'lr'}",
            "data.val=[]", "data.patch_size=32", "data.batch_size=4", "data.num_workers=0", "generator.num_feat=8",
            "generator.num_block=1", "discriminator.num_feat=4", "trainer.max_steps=2", "trainer.val_check_interval=2",
            "callbacks.checkpoint.every_n_iterations=2", "trainer.enable_progress_bar=false"]  # the table logs CSV + W&B (disabled)
    done = client(sys.executable, "-m", "gansr.tables", "--table", "srgan", "--scale", "paper", "--execute", "--slurm",
                  "--rows", "SRGAN-MSE", "--output-root", str(runs), "--no-wandb", "--override", *two_nodes, *tiny,
                  timeout=600)
    jobs = dict(re.findall(r"(\w+): job (\d+)", done.stdout.strip().split("\n")[-1]))
    assert list(jobs) == ["pretrain_srresnet_psnr", "srgan_mse"], done.stdout[-3000:]
    stage, row = jobs.values()
    assert f"#SBATCH --dependency=afterok:{stage}\n" in (runs / ".submitit" / row / f"{row}_submission.sh").read_text()
    wait_until_done([stage, row], timeout=600, client=ON_MN1)
    logs = "\n".join(p.read_text(errors="replace") for p in sorted(runs.glob(".submitit/*/*_log.*")))
    for name, job in jobs.items():
        assert job_field(job, "JobState", ON_MN1) == "COMPLETED", logs[-4000:]
        assert job_field(job, "NodeList", ON_MN1) == "mn[1-2]"
        assert safe_load(runs / name / "checkpoints" / "last.ckpt")["iteration"] == 2
        assert (runs / name / "generator.pth").is_file()
    assert logs.count("MEMBER: 2/2") == 2  # each job's second rank joined from the other node
    row_config = (runs / "srgan_mse" / ".hydra" / "overrides.yaml").read_text()
    assert f"module.generator_init={runs / 'pretrain_srresnet_psnr' / 'checkpoints' / 'last.ckpt'}" in row_config
