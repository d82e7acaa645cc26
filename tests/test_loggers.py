"""Log history across resume (CSV, TensorBoard, W&B run id), ``logger=tensorboard|wandb|many`` and validation
pictures in TensorBoard."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.data.image_io import write_image
from gansr.training.loggers import WANDB_ID_FILE, resumable_wandb_logger

TINY_PSNR = ["experiment=esrgan_psnr", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """``<root>/train/HR`` (4 random 48 px images) and ``<root>/Set5/HR`` (1 image, the validation set)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(root / "train" / "HR" / f"img{i}.png", rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    write_image(root / "Set5" / "HR" / "val0.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return root


def run(data_root: Path, out: Path, iterations: int, *extra: str) -> None:
    train(compose_config([
        *TINY_PSNR,
        "data=folder",
        f"data.train.hr_dir={data_root / 'train' / 'HR'}",
        f"paths.data_dir={data_root}",
        f"paths.cache_dir={data_root / 'cache'}",
        "data.patch_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        f"trainer.max_steps={iterations}",
        "trainer.log_every_n_steps=5",
        "trainer.val_check_interval=10",
        "trainer.enable_progress_bar=false",
        "callbacks.checkpoint.every_n_iterations=5",
        *extra,
    ], out))


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def steps_with(rows: list[dict[str, str]], column: str) -> list[int]:
    return [int(float(r["step"])) for r in rows if r.get(column)]


def test_csv_and_tensorboard_keep_the_history_across_a_resume(data_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    run(data_root, out, 15, "logger=tensorboard")
    events_first = sorted((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events_first) == 1
    run(data_root, out, 30, "logger=tensorboard", "resume=auto")

    rows = csv_rows(out / "metrics.csv")
    # one axis, in iterations: step = the iteration of the value, as in the log's [iter N] and the file names
    assert steps_with(rows, "train/g/total") == [5, 10, 15, 20, 25, 30]  # both sessions, each interval once
    assert steps_with(rows, "lr/G") == [5, 10, 15, 20, 25, 30]  # the G optimizer's rate, not lr-Adam
    assert not [c for c in rows[0] if c.startswith("lr-")]
    assert steps_with(rows, "val/Set5/psnr_y") == [10, 20, 30]  # validation every 10 iterations, across the resume
    assert (out / "hparams.yaml").is_file()

    events = sorted((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events_first[0] in events and len(events) == 2  # the first session's file survives
    scalars, images = set(), {}
    for path in events:
        acc = EventAccumulator(str(path), size_guidance={"images": 0, "scalars": 0})
        acc.Reload()
        scalars |= {e.step for e in acc.Scalars("train/g/total")}
        for tag in acc.Tags()["images"]:
            images.setdefault(tag, []).extend(e.step for e in acc.Images(tag))
    assert sorted(scalars) == [5, 10, 15, 20, 25, 30]  # the CSV's steps: iterations
    assert sorted(images["val/Set5/lr_sr_hr"]) == [10, 20, 30]  # one picture per validation, by iteration


def test_every_logger_choice_keeps_the_csv_log(tmp_path):
    from hydra.utils import instantiate

    kinds = {}
    for choice in ("csv", "tensorboard", "wandb", "many"):
        cfg = compose_config([f"logger={choice}"], tmp_path / choice)
        kinds[choice] = [c._target_.rsplit(".", 1)[-1] for c in cfg.logger.values()]
        assert kinds[choice][0] == "AppendingCSVLogger"
    assert kinds["many"] == ["AppendingCSVLogger", "TensorBoardLogger", "resumable_wandb_logger"]
    cfg = compose_config(["logger=tensorboard"], tmp_path / "tb")
    logger = instantiate(cfg.logger.tensorboard)
    assert Path(logger.log_dir) == tmp_path / "tb" / "tensorboard"


def test_wandb_run_id_is_kept_in_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    first = resumable_wandb_logger(str(tmp_path), project="gansr")
    run_id = (tmp_path / WANDB_ID_FILE).read_text().strip()
    again = resumable_wandb_logger(str(tmp_path), project="gansr")
    assert first._wandb_init["id"] == again._wandb_init["id"] == run_id and len(run_id) >= 8
    assert again._wandb_init["resume"] == "allow"
    assert "anonymous" not in again._wandb_init  # W&B: "The anonymous setting has no effect" when it is given
    assert resumable_wandb_logger(str(tmp_path / "other"), project="gansr")._wandb_init["id"] != run_id


def test_wandb_run_folder_still_has_metrics_csv_and_hparams(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    out = tmp_path / "run"
    run(data_root, out, 5, "logger=wandb", "data.val=[]")
    assert steps_with(csv_rows(out / "metrics.csv"), "train/g/total")
    assert (out / "hparams.yaml").is_file() and (out / WANDB_ID_FILE).is_file()


def test_csv_rows_logged_after_the_resumed_checkpoint_are_replaced(tmp_path):
    """A run killed at iteration 17 after logging 14 but resumed from its iteration-10 checkpoint logs 14 again:
    the file keeps one row per step, the new one."""
    from gansr.training.loggers import AppendingCSVLogger

    first = AppendingCSVLogger(tmp_path, name="", version="")
    for step in (4, 9, 14):
        first.log_metrics({"loss": float(step)}, step=step)
    first.save()
    again = AppendingCSVLogger(tmp_path, name="", version="")
    again.log_metrics({"loss": -14.0, "psnr": 1.0}, step=14)
    again.save()
    rows = csv_rows(tmp_path / "metrics.csv")
    assert [(r["step"], r["loss"]) for r in rows] == [("4", "4.0"), ("9", "9.0"), ("14", "-14.0")]
    assert rows[-1]["psnr"] == "1.0" and rows[0]["psnr"] == ""


def test_a_stop_between_logging_iterations_adds_no_stale_row(data_root, tmp_path, monkeypatch):
    """SIGUSR1 at iteration 7 (lines every 5): Lightning wrote the values of iteration 5 a second time when the run
    stopped; now metrics.csv has one row per logged iteration, at step = that iteration."""
    import os
    import signal

    from gansr.training.psnr_module import PSNRModule

    original = PSNRModule.training_step

    def step(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        if self.iteration == 7:
            os.kill(os.getpid(), signal.SIGUSR1)
        return out

    monkeypatch.setattr(PSNRModule, "training_step", step)
    out = tmp_path / "run"
    run(data_root, out, 30, "data.val=[]")
    rows = csv_rows(out / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [5] and steps_with(rows, "lr/G") == [5]
    assert "SIGUSR1 received: saved" in (out / "train.log").read_text()  # the stop line is in the run's log too
