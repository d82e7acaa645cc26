"""A refused ``gansr-train`` changes nothing in a run folder; a resumed run keeps its recorded networks (issue 19
item 4). Hydra's ``.hydra/`` files are written by gansr once the run is accepted (``gansr.training.run_record``)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gansr.cli import compose_config
from gansr.training.run_record import (
    ArchitectureChangedError,
    check_resume_architecture,
)

REPO = Path(__file__).resolve().parents[1]
TINY = ["experiment=esrgan_psnr", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
        "data=folder", "data.val=[]", "data.patch_size=32", "data.batch_size=2", "data.num_workers=0",
        "trainer.val_check_interval=2", "trainer.enable_progress_bar=false", "callbacks.checkpoint.every_n_iterations=2",
        "logger=csv"]


def gansr_train(run: Path, hr: Path, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "gansr.cli.train", *TINY, f"data.train.hr_dir={hr}",
               f"data.train.lr_cache_dir={run.parent / 'lr'}", f"paths.root_dir={run.parent}", f"hydra.run.dir={run}",
               *overrides]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tiny_hr_folder, tmp_path_factory) -> Path:
    """A tiny PSNR run that ``gansr-train`` finished (2 iterations) on the command line."""
    run = tmp_path_factory.mktemp("finished") / "run"
    done = gansr_train(run, tiny_hr_folder, "trainer.max_steps=2")
    assert done.returncode == 0, done.stderr[-2000:]
    return run


@pytest.fixture()
def run_copy(finished_run, tmp_path) -> Path:
    return shutil.copytree(finished_run, tmp_path / "run")


def test_the_run_records_hydras_files(finished_run):
    """Written by gansr after acceptance, with Hydra's content: the task config, Hydra's config, the overrides."""
    config = yaml.safe_load((finished_run / ".hydra" / "config.yaml").read_text())
    assert config["generator"]["num_feat"] == 8 and config["trainer"]["max_steps"] == 2 and "hydra" not in config
    hydra = yaml.safe_load((finished_run / ".hydra" / "hydra.yaml").read_text())["hydra"]
    assert hydra["run"]["dir"] == str(finished_run) and hydra["output_subdir"] == ".hydra"
    overrides = yaml.safe_load((finished_run / ".hydra" / "overrides.yaml").read_text())
    assert "generator.num_feat=8" in overrides and "trainer.max_steps=2" in overrides
    assert not list(finished_run.rglob("*.tmp*"))


@pytest.mark.parametrize(
    "overrides, message",
    [
        # the request: refused for its resume path, after which the old code had rewritten .hydra/
        (["generator.num_feat=32", "resume=/nonexist.ckpt"], "resume=/nonexist.ckpt: no such checkpoint file"),
        # a resumed run with another architecture: refused naming the key (the old code failed inside Lightning)
        (["generator.num_feat=32", "resume=auto", "trainer.max_steps=4"],
         r"the run recorded other networks in .*hparams.yaml: module.generator.num_feat \(8 -> 32\)"),
        (["scale=2", "resume=auto", "trainer.max_steps=4"], r"module.generator.scale \(4 -> 2\), module.scale"),
    ],
)
def test_a_refused_request_changes_nothing_in_the_run_folder(run_copy, tiny_hr_folder, overrides, message):
    before = snapshot(run_copy)
    done = gansr_train(run_copy, tiny_hr_folder, *overrides)
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("gansr-train: error: ") and "Traceback" not in done.stderr
    assert re.search(message, last), last
    assert snapshot(run_copy) == before  # .hydra/*.yaml, config_tree.log, hparams.yaml, checkpoints: all unchanged


def test_an_accepted_resume_records_its_config(run_copy, tiny_hr_folder):
    done = gansr_train(run_copy, tiny_hr_folder, "resume=auto", "trainer.max_steps=4")
    assert done.returncode == 0, done.stderr[-2000:]
    assert yaml.safe_load((run_copy / ".hydra" / "config.yaml").read_text())["trainer"]["max_steps"] == 4
    assert (run_copy / "checkpoints" / "last.ckpt").is_file()


def test_resume_compares_every_architecture_key(tmp_path):
    """In code, for a GAN run: a recorded config (Hydra's unresolved copy) against the composed one."""
    from omegaconf import OmegaConf

    gan = ["experiment=esrgan", *TINY[1:], "discriminator.num_feat=4", "loss.perceptual=null"]
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / ".hydra").mkdir()
    checkpoint = run / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(b"")  # only its place matters here
    recorded = compose_config(gan, run)
    task = OmegaConf.masked_copy(recorded, [k for k in recorded if k != "hydra"])
    (run / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(task))
    check_resume_architecture(compose_config([*gan, "trainer.max_steps=9", "loss.adversarial_weight=1"], run),
                              checkpoint)  # not the networks: accepted
    for change, key in [("discriminator.num_feat=16", "module.discriminator.num_feat (4 -> 16)"),
                        ("discriminator=unet", "module.discriminator._target_"),
                        ("sharing=shared_extractor", "module.extractor"),
                        ("generator.num_block=2", "module.generator.num_block (1 -> 2)")]:
        with pytest.raises(ArchitectureChangedError, match=re.escape(key)):
            check_resume_architecture(compose_config([*gan, change], run), checkpoint)
    check_resume_architecture(compose_config([*gan, "generator.num_block=2"], run), None)  # a fresh start
