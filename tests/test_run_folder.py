"""Never two runs in one folder: a new run refuses the folder of an earlier run; ``resume=auto`` says when its
``run_name`` matches no earlier run (docs/reliability.md "One run per run folder")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.training.run_folder import RunFolderTakenError, check_new_run_folder
from test_stopping import tiny_psnr

REPO = Path(__file__).resolve().parents[1]


def tiny(hr_folder: Path, tmp_path: Path) -> list[str]:
    return tiny_psnr(hr_folder, tmp_path, max_steps=2, val_every=2)


def test_a_finished_runs_name_without_resume_is_refused_and_its_folder_unchanged(tiny_hr_folder, tmp_path):
    """Before: the second run trained into the same folder and overwrote generator.pth and the checkpoints."""
    run = tmp_path / "run"
    train(compose_config(tiny(tiny_hr_folder, tmp_path), run))
    before = {p: p.read_bytes() for p in [run / "generator.pth", *sorted((run / "checkpoints").iterdir())]}
    with pytest.raises(RunFolderTakenError, match=r"holds an earlier run \(checkpoints/iter_000002.ckpt, "
                                                  r"checkpoints/last.ckpt, generator.pth\): continue it with "
                                                  r"resume=auto, or start a new run with another run_name="):
        train(compose_config([*tiny(tiny_hr_folder, tmp_path), "seed=1"], run))
    assert {p: p.read_bytes() for p in before} == before
    assert sorted((run / "checkpoints").iterdir()) == sorted(p for p in before if p.suffix == ".ckpt")
    assert not (run / "run.lock").exists()
    # resume=auto continues the same run instead
    result = train(compose_config([*tiny(tiny_hr_folder, tmp_path), "trainer.max_steps=3", "resume=auto"], run))
    assert result.iteration == 3


@pytest.mark.slow
def test_cli_refuses_before_hydra_rewrites_the_earlier_runs_config(tiny_hr_folder, tmp_path):
    """``gansr-train ... run_name=X`` a second time: one error line, exit 1, the first run's .hydra/ untouched."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "gansr.cli.train", *tiny(tiny_hr_folder, tmp_path),
               f"hydra.run.dir={run}"]
    assert subprocess.run(command, cwd=REPO, capture_output=True, timeout=300).returncode == 0
    config = (run / ".hydra" / "config.yaml").read_bytes()
    again = subprocess.run([*command, "seed=5"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1].startswith(f"gansr-train: error: run folder {run} holds an earlier run")
    assert "Traceback" not in again.stderr
    assert (run / ".hydra" / "config.yaml").read_bytes() == config


def test_a_folder_without_checkpoints_can_be_used_again(tmp_path):
    """A run that failed before its first checkpoint (missing data, a typo) left .hydra/ and logs only."""
    (tmp_path / ".hydra").mkdir()
    (tmp_path / "train.log").write_text("failed\n")
    (tmp_path / "checkpoints").mkdir()
    check_new_run_folder(tmp_path, None)
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    with pytest.raises(RunFolderTakenError):
        check_new_run_folder(tmp_path, None)
    check_new_run_folder(tmp_path, "auto")


def test_resume_auto_names_a_run_name_that_matches_no_run(tiny_hr_folder, tmp_path, capsys):
    """``resume=auto run_name=lnog`` beside a run named ``long``: said in one line (before: "no checkpoint yet,
    starting fresh", nothing about the name); the new run starts."""
    (tmp_path / "runs" / "long" / "checkpoints").mkdir(parents=True)
    (tmp_path / "runs" / "long" / "checkpoints" / "last.ckpt").write_bytes(b"x")
    run = tmp_path / "runs" / "lnog"
    result = train(compose_config([*tiny(tiny_hr_folder, tmp_path), "resume=auto"], run))
    assert result.iteration == 2
    assert (f"[gansr] resume=auto: run_name=lnog matches no earlier run (no checkpoint in {run}) (runs with a close "
            f"name in {run.parent}: long); starting a new run") in capsys.readouterr().out


def test_resuming_a_finished_run_keeps_its_final_metrics(tiny_hr_folder, tmp_path):
    """``gansr-demo`` run again resumes its finished stages (nothing left to train): the run's final_metrics.json
    keeps the last validation (before: rewritten with no metrics)."""
    val = (f"{{_target_:gansr.data.datasets.HRFolderDataset,name:tinyval,hr_dir:'{tiny_hr_folder}',scale:4,"
           f"lr_cache_dir:'{tmp_path / 'val_lr'}'}}")
    overrides = [*tiny(tiny_hr_folder, tmp_path), f"data.val=[{val}]"]
    run = tmp_path / "run"
    train(compose_config(overrides, run))
    final = (run / "final_metrics.json").read_text()
    assert '"tinyval/psnr_y"' in final
    train(compose_config([*overrides, "resume=auto"], run))
    assert (run / "final_metrics.json").read_text() == final
