"""SLURM support without a cluster: requeue decisions (gansr.training.slurm), the submitit launcher plugin
(hydra_plugins.gansr_launcher), the table's afterok chain, the local submitit launcher and the Optuna sweep config.
The runs on a real SLURM are in tests/slurm/."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from omegaconf import OmegaConf

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.training import slurm
from gansr.training.preemption import PreemptionCheckpoint
from gansr.utils.checkpoint import safe_load

REPO = Path(__file__).resolve().parents[1]
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_NTASKS", "SLURM_JOB_NAME", "SLURM_PROCID",
                   "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SUBMITIT_EXECUTOR")


@pytest.fixture
def no_slurm(monkeypatch):
    for name in SLURM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def tiny_run(hr_folder: Path, tmp_path: Path) -> list[str]:
    return ["experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={hr_folder}",
            f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=4",
            "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
            "trainer.val_check_interval=100000", "trainer.enable_progress_bar=false", "logger=csv"]


# ------------------------------------------------------------------------------------------- run folder


def test_run_folder_follows_the_slurm_job_for_every_rank_and_requeue(no_slurm, tmp_path):
    """Every rank (``SLURM_PROCID``) and every restart of one job composes the same run_name and run folder,
    without the user naming it; outside SLURM the default stays the launch time."""
    outside = compose_config([], tmp_path / "x").run_name
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", outside)
    no_slurm.setenv("SLURM_JOB_ID", "4711")
    no_slurm.setenv("SLURM_JOB_NAME", "esrgan x4/paper")
    folders = set()
    for rank, restarts in ((0, 0), (1, 0), (0, 1), (1, 3)):
        no_slurm.setenv("SLURM_PROCID", str(rank))
        no_slurm.setenv("SLURM_RESTART_COUNT", str(restarts))
        cfg = compose_config([], tmp_path / "x")
        assert cfg.run_name == "esrgan_x4_paper-4711"
        folders.add(cfg.hydra.run.dir)
    assert folders == {f"{Path.cwd()}/outputs/train/esrgan_x4_paper-4711"}
    no_slurm.setenv("SLURM_ARRAY_JOB_ID", "4700")
    no_slurm.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert compose_config([], tmp_path / "x").run_name == "esrgan_x4_paper-4700_3"  # the id squeue shows
    assert compose_config(["run_name=mine"], tmp_path / "x").run_name == "mine"  # a name given wins


def test_gansr_train_resolves_the_job_run_name(no_slurm):
    """The ``@hydra.main`` entry point knows the resolver (the config composes and resolves as in a job)."""
    env = dict(os.environ, SLURM_JOB_ID="12", SLURM_JOB_NAME="demo", PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-m", "gansr.cli.train", "--cfg", "job", "--resolve", "-p", "run_name"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "demo-12", done.stdout + done.stderr[-2000:]


# ------------------------------------------------------------------------------------------- requeue


def test_requeued_job_resumes_auto(no_slurm):
    assert slurm.resume_when_requeued(None) is None
    no_slurm.setenv("SLURM_RESTART_COUNT", "0")
    assert slurm.resume_when_requeued(None) is None
    no_slurm.setenv("SLURM_RESTART_COUNT", "2")
    assert slurm.resume_when_requeued(None) == "auto"
    assert slurm.resume_when_requeued("/runs/a/last.ckpt") == "/runs/a/last.ckpt"  # an explicit choice stays


def test_lightning_auto_requeue_is_off_under_slurm(no_slurm):
    assert slurm.cluster_plugins() == []
    no_slurm.setenv("SLURM_NTASKS", "1")
    no_slurm.setenv("SLURM_JOB_NAME", "train")
    [environment] = slurm.cluster_plugins()
    assert type(environment).__name__ == "SLURMEnvironment" and environment.auto_requeue is False


def fake_trainer(signum: int | None, global_zero: bool = True) -> SimpleNamespace:
    callback = PreemptionCheckpoint("unused")
    callback.received = signum
    return SimpleNamespace(callbacks=[callback], is_global_zero=global_zero)


def test_requeue_signal_in_a_batch_job_runs_scontrol_requeue(no_slurm):
    calls = []
    no_slurm.setattr(slurm.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or SimpleNamespace(returncode=0))
    slurm.requeue_after_preemption(fake_trainer(signal.SIGUSR1))  # not a SLURM job: nothing
    no_slurm.setenv("SLURM_JOB_ID", "42")
    slurm.requeue_after_preemption(fake_trainer(signal.SIGTERM))  # TERM: saved and stopped, not requeued
    slurm.requeue_after_preemption(fake_trainer(None))
    slurm.requeue_after_preemption(fake_trainer(signal.SIGUSR1, global_zero=False))  # rank 0 requeues
    assert calls == []
    with pytest.raises(SystemExit) as exit_:
        slurm.requeue_after_preemption(fake_trainer(signal.SIGUSR2))
    assert calls == [["scontrol", "requeue", "42"]] and exit_.value.code == 0


def test_under_submitit_its_handler_requeues(no_slurm):
    """In a submitit job, submitit's SIGUSR2 handler (put back by PreemptionCheckpoint at teardown) does the
    requeue: it checkpoints the Hydra job and counts timeouts against max_num_timeout."""
    from submitit.core.job_environment import SignalHandler

    seen = []
    no_slurm.setattr(SignalHandler, "checkpoint_and_try_requeue", lambda self, signum, frame=None: seen.append(signum))
    no_slurm.setenv("SLURM_JOB_ID", "42")
    no_slurm.setattr(slurm.subprocess, "run", lambda *a, **k: pytest.fail("scontrol called next to submitit"))
    handler = SignalHandler.__new__(SignalHandler)
    previous = signal.signal(signal.SIGUSR2, handler.checkpoint_and_try_requeue)
    try:
        assert slurm.submitit_handler(signal.SIGUSR2) is not None
        slurm.requeue_after_preemption(fake_trainer(signal.SIGUSR2))
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert seen == [signal.SIGUSR2]
    assert slurm.submitit_handler(signal.SIGUSR2) is None


def test_sigusr2_saves_last_checkpoint_and_stops(tiny_hr_folder, tmp_path, no_slurm):
    """SIGUSR2 (submitit's time-limit signal) is a pre-emption signal: last.ckpt at the end of that batch."""
    from gansr.training.psnr_module import PSNRModule

    original = PSNRModule.training_step

    def step(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        if self.iteration == 2:
            os.kill(os.getpid(), signal.SIGUSR2)
        return out

    cfg = compose_config([*tiny_run(tiny_hr_folder, tmp_path), "trainer.max_steps=30",
                          "callbacks.checkpoint.every_n_iterations=1000"], tmp_path / "run")
    no_slurm.setattr(PSNRModule, "training_step", step)
    train(cfg)
    assert safe_load(tmp_path / "run" / "checkpoints" / "last.ckpt")["iteration"] == 2


# ------------------------------------------------------------------------------------------ launcher


def launcher(kind: str, config: dict):
    from hydra_plugins.gansr_launcher.launcher import LocalLauncher, SlurmLauncher

    instance = (SlurmLauncher if kind == "slurm" else LocalLauncher).__new__(
        SlurmLauncher if kind == "slurm" else LocalLauncher)
    instance.config = OmegaConf.create(config)
    return instance



def test_a_run_that_raises_fails_its_slurm_job(monkeypatch):
    """Hydra's run_job turns the run's exception into a FAILED result; the job raises it again, so submitit and
    SLURM see the job fail (before: the job ended COMPLETED and a row queued afterok on a failed stage started)."""
    from hydra.core.utils import JobReturn, JobStatus
    from hydra_plugins.gansr_launcher.launcher import SlurmLauncher, _GansrLauncher

    outcome = {}
    # submitit's launcher class after gansr's in the MRO (Hydra's plugin scan may have reloaded its module since)
    base = SlurmLauncher.__mro__[SlurmLauncher.__mro__.index(_GansrLauncher) + 1]
    monkeypatch.setattr(base, "__call__", lambda self, *args: outcome["result"])
    launcher = SlurmLauncher.__new__(SlurmLauncher)  # the job's copy; its set-up is the base class's, replaced here
    job = (["seed=1"], "hydra.sweep.dir", 0, "job_id_for_0", {})
    outcome["result"] = JobReturn(status=JobStatus.FAILED, _return_value=FileNotFoundError("no images in HR/"))
    with pytest.raises(FileNotFoundError, match="no images in HR/"):
        launcher(*job)
    outcome["result"] = JobReturn(status=JobStatus.COMPLETED, _return_value=0.5)
    assert launcher(*job) is outcome["result"]


@pytest.mark.parametrize(("kind", "sweeper", "waits"), [
    ("slurm", "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", False),  # queue and return
    ("slurm", "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper", True),  # Optuna reads results
    ("local", "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", True),
])
def test_launcher_waits_only_when_results_are_read(kind, sweeper, waits):
    assert launcher(kind, {"hydra": {"sweeper": {"_target_": sweeper}}}).waits() is waits


def test_sweep_jobs_share_one_wandb_group():
    sweep = Path("multirun/train/2026-12-04_18-00-00")
    assert launcher("slurm", {})._wandb_group(["seed=1"], sweep) == ["++wandb_group=sweep-2026-12-04_18-00-00"]
    assert launcher("slurm", {})._wandb_group(["+wandb_group=mine"], sweep) == []
    assert launcher("slurm", {"wandb_group": "table-srgan"})._wandb_group(["seed=1"], sweep) == []


@pytest.mark.slow
def test_submitit_local_multirun_runs_a_job_in_its_folder(tiny_hr_folder, tmp_path):
    """``hydra/launcher=submitit_local``: the job code path of submitit_slurm without a cluster."""
    sweep = tmp_path / "sweep"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-m", "gansr.cli.train", "-m", "hydra/launcher=submitit_local",
                           *tiny_run(tiny_hr_folder, tmp_path), "trainer.max_steps=1", "seed=3",
                           f"hydra.sweep.dir={sweep}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[gansr] submitted LOCAL job" in done.stdout
    assert safe_load(sweep / "0" / "checkpoints" / "last.ckpt")["iteration"] == 1
    config = yaml.safe_load((sweep / "0" / ".hydra" / "config.yaml").read_text())
    assert config["seed"] == 3 and config["wandb_group"] == "sweep-sweep"
    assert "validated against ConfigStore schema" not in done.stderr  # the schema match note is silenced


# ----------------------------------------------------------------------------------------- tables


def test_table_queue_chains_each_run_after_the_one_it_starts_from(monkeypatch, tmp_path):
    """mask table, EDSR-GAN+Mask: the x2 PSNR stage, then the GAN row after it (afterok) starting from its
    last.ckpt (the mask paper starts the x4 GAN from EDSR's x2 model)."""
    import gansr.tables.run as table_run
    from gansr.tables import load_table

    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        return SimpleNamespace(returncode=0, stdout=f"[gansr] submitted SLURM job {100 + len(commands)}: ...\n")

    monkeypatch.setattr(table_run.subprocess, "run", fake_run)
    jobs = table_run.submit_paper_runs(load_table("mask"), tmp_path, ["EDSR-GAN+Mask"],
                                       ["hydra.launcher.partition=gpu"])
    assert jobs == {"pretrain_edsr_psnr_x2": "101", "edsr_gan_mask": "102"}
    dependencies = [[o for o in c if "dependency" in o] for c in commands]
    assert dependencies == [[], ["++hydra.launcher.additional_parameters.dependency=afterok:101"]]
    assert all("hydra/launcher=submitit_slurm" in c and "hydra.launcher.partition=gpu" in c for c in commands)
    assert f"module.generator_init={tmp_path / 'pretrain_edsr_psnr_x2' / 'checkpoints' / 'last.ckpt'}" in commands[1]


# ------------------------------------------------------------------------------------------ Optuna


@pytest.mark.slow
def test_optuna_searches_loss_weights_against_a_validation_metric(tiny_hr_folder, tmp_path):
    """``+hparams_search=loss_weights`` (hydra/sweeper=optuna): two tiny trials, each returning val/Set5/psnr_y."""
    val_root = tmp_path / "val"
    shutil.copytree(tiny_hr_folder, val_root / "Set5" / "HR")
    sweep = tmp_path / "sweep"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p))
    tiny_esrgan = ["experiment=esrgan", "data=folder", f"data.train.hr_dir={tiny_hr_folder}",
                   f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.patch_size=32", "data.batch_size=4",
                   "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
                   "discriminator.num_feat=4", "loss.perceptual.pretrained=false", "trainer.max_steps=2",
                   "trainer.val_check_interval=2", "trainer.enable_progress_bar=false", "logger=csv"]
    done = subprocess.run([sys.executable, "-m", "gansr.cli.train", "-m", "+hparams_search=loss_weights", *tiny_esrgan,
                           f"paths.data_dir={val_root}", f"paths.cache_dir={tmp_path / 'cache'}",
                           "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=1",
                           f"hydra.sweep.dir={sweep}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    best = result["best_params"]
    assert set(best) == {"loss.pixel.weight", "loss.adversarial_weight"}
    assert 1e-3 <= best["loss.pixel.weight"] <= 1e-1 and 1e-3 <= best["loss.adversarial_weight"] <= 5e-2
    assert result["best_value"] > 0  # a PSNR in dB
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()) == ["0", "1"]
