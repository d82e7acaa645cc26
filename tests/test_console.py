"""What a training run prints (gansr.training.console): BasicSR-style lines in iterations, values read only on
logging iterations, the iteration progress bar on a terminal, known harmless messages filtered and no others."""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from hydra.utils import instantiate

from gansr.cli import compose_config
from gansr.training import console
from gansr.training.console import IterationLog, IterationProgressBar, iteration_line, quiet_known_noise


def test_iteration_line_has_basicsr_form():
    line = iteration_line(1000, 500000, [1e-4, 1e-4], 11560.4,
                          {"train/g/pixel": 0.012345, "train/d/real_logit": -0.5, "train/d/total": 0.7})
    assert line == ("[iter 1,000/500,000] lr 1.0e-04 eta 3:12:40 l_g_pixel 1.2345e-02 d_real_logit -5.0000e-01 "
                    "l_d_total 7.0000e-01")
    assert "lr 1.0e-04/5.0e-05 eta ?" in iteration_line(3, -1, [1e-4, 5e-5], float("inf"), {})


class FakeTrainer:
    """Just what IterationLog touches; counts the reads of the logged values (each read = a host sync on GPU)."""

    is_global_zero = True
    sanity_checking = False
    global_step = 0

    def __init__(self, module, max_iterations: int) -> None:
        self.module = module
        self.max_steps = max_iterations * module.optimizer_steps_per_iteration
        self.optimizers = [torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-4)]
        self.reads: list[int] = []
        self.values = {"train/g/pixel": torch.tensor(0.25), "train/iteration": torch.tensor(1.0)}

    @property
    def callback_metrics(self):
        self.reads.append(self.module.iteration)
        return self.values


class FakeModule(torch.nn.Module):
    optimizer_steps_per_iteration = 2

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.nn.Conv2d(3, 3, 1)
        self.iteration = 0


def test_iteration_log_reads_values_only_on_logging_iterations(tmp_path, capsys):
    module = FakeModule()
    trainer = FakeTrainer(module, max_iterations=10)
    log = IterationLog(tmp_path / "train.log", every_n_iterations=4)
    log.on_fit_start(trainer, module)
    log.on_train_start(trainer, module)
    for _ in range(10):
        module.iteration += 1
        log.on_train_batch_end(trainer, module, None, None, 0)
    trainer.values = {"val/Set5/psnr_y": torch.tensor(30.5)}
    log.on_validation_end(trainer, module)
    log.on_train_end(trainer, module)
    log.on_fit_end(trainer, module)
    assert trainer.reads == [4, 8, 10, 10]  # logging iterations (every 4 and the last), then the validation
    out = capsys.readouterr().out
    assert "[gansr] FakeModule: generator 0.00 M; iterations 0 -> 10" in out
    assert "[iter 4/10] lr 2.0e-04 eta " in out and "l_g_pixel 2.5000e-01" in out and "l_iteration" not in out
    assert "[iter 10/10] validation Set5/psnr_y 30.5000" in out
    assert "training stopped at iteration 10 of 10 (trainer.max_steps reached)" in out
    file_text = (tmp_path / "train.log").read_text()
    assert file_text.count("[iter ") == 4 and "final validation (iteration 10)" in file_text
    assert json.loads((tmp_path / "final_metrics.json").read_text()) == {
        "iteration": 10, "validated_at": 10, "metrics": {"Set5/psnr_y": 30.5}}
    # detached: a second run in this process does not print twice
    assert not [h for h in console.LOG.handlers if isinstance(h, (logging.FileHandler, console._TqdmSafeStdout))]


def test_known_noise_is_filtered_and_real_warnings_are_not(tmp_path):
    from pytorch_lightning.utilities.rank_zero import rank_zero_info

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise(single_process=True, run_dir=tmp_path)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
        warnings.warn("Found 37 module(s) in eval mode at the start of training. This may ...")
        warnings.warn("The `srun` command is available on your system but is not used. HINT: ...")
        warnings.warn(f"Experiment logs directory {tmp_path}/ exists and is not empty. Previous log files ...")
        warnings.warn("a real problem")
        other = tmp_path / "other"  # a resumed run: its metrics.csv would be replaced
        other.mkdir()
        (other / "metrics.csv").write_text("step\n")
        quiet_known_noise(single_process=False, run_dir=other)
        warnings.warn(f"Experiment logs directory {other}/ exists and is not empty.")  # a CSV to lose: shown
    assert [str(w.message) for w in caught] == ["a real problem", f"Experiment logs directory {other}/ exists and is not empty."]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    logger.addHandler(handler)
    try:
        rank_zero_info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]")
        rank_zero_info("`Trainer.fit` stopped: `max_steps=10` reached.")
        rank_zero_info("GPU available: False, used: False")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["GPU available: False, used: False"]


def tiny_gan_overrides(hr_folder: Path, tmp_path: Path, iterations: int = 4) -> list[str]:
    val = (f"data.val=[{{_target_:gansr.data.datasets.HRFolderDataset,name:tiny,hr_dir:'{hr_folder}',scale:4,"
           f"lr_cache_dir:'{tmp_path / 'lr'}'}}]")
    return ["experiment=esrgan", "data=folder", f"data.train.hr_dir={hr_folder}",
            f"data.train.lr_cache_dir={tmp_path / 'lr'}", val, "data.patch_size=32", "data.batch_size=2",
            "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
            "discriminator.num_feat=4", "loss.perceptual=null", f"trainer.max_steps={iterations}",
            f"trainer.val_check_interval={iterations}", "trainer.log_every_n_steps=2",
            f"callbacks.checkpoint.every_n_iterations={iterations}", "logger=csv"]


def test_redirected_run_prints_lines_in_iterations(tiny_hr_folder, tmp_path, capsys):
    from gansr.cli.train import train

    run = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(compose_config(tiny_gan_overrides(tiny_hr_folder, tmp_path), run))
    out = capsys.readouterr().out
    assert "config (resolved)" in out and "trainer" in (run / "config_tree.log").read_text()
    assert "[iter 2/4] lr 1.0e-04 eta " in out and "[iter 4/4] lr 1.0e-04 eta " in out
    assert "[iter 1/4]" not in out and "[iter 3/4]" not in out  # one line per log interval (2)
    assert "l_g_pixel" in out and "l_d_adversarial" in out
    assert "[iter 4/4] validation tiny/psnr_y" in out and "final validation (iteration 4):" in out
    assert "training stopped at iteration 4 of 4" in out
    for noise in ("max_steps=8", "litlogger", "Total FLOPs", "Modules in eval mode", "it/s"):
        assert noise not in out
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "LeafSpec" in m or "pre-optimization state" in m or "srun" in m], messages
    log_text = (run / "train.log").read_text()
    assert log_text.count("[iter ") == 3  # two training lines + the validation line
    final = json.loads((run / "final_metrics.json").read_text())
    assert final["iteration"] == 4 and set(final["metrics"]) == {"tiny/psnr_y", "tiny/ssim_y"}


def test_terminal_gets_one_iteration_bar(tiny_hr_folder, tmp_path, monkeypatch, capsys):
    import gansr.cli.train as train_cli

    monkeypatch.setattr(train_cli, "stdout_is_terminal", lambda: True)
    cfg = compose_config(tiny_gan_overrides(tiny_hr_folder, tmp_path, iterations=3) + ["data.val=[]"], tmp_path / "run")
    module = instantiate(cfg.module)
    trainer = train_cli.build_trainer(cfg, module)
    bar = trainer.progress_bar_callback
    assert isinstance(bar, IterationProgressBar)
    totals = []
    original = bar.on_train_batch_end

    def spy(*args, **kwargs):
        original(*args, **kwargs)
        totals.append((bar.train_progress_bar.n, bar.train_progress_bar.total))

    monkeypatch.setattr(bar, "on_train_batch_end", spy)
    trainer.fit(module, datamodule=instantiate(cfg.data))
    assert totals == [(1, 3), (2, 3), (3, 3)]  # iterations, not optimizer steps (6), over the whole run
    out = capsys.readouterr().out
    assert "[iter 2/3] lr" not in out  # the lines go to train.log only; the bar shows the values
    assert "[iter 2/3] lr" in (tmp_path / "run" / "train.log").read_text()
    assert "training stopped at iteration 3 of 3" in out


def test_saves_and_an_empty_validation_list_print_no_noise(tiny_hr_folder, tmp_path, caplog):
    """Lightning's "`weights_only` was not set, defaulting to `False`" at every save (it reads like an unsafe load;
    gansr now says weights_only=False, a full training checkpoint) and "Total length of `list` across ranks is
    zero" for data.val=[] (tables) are gone; the run still saves its checkpoints."""
    from gansr.cli.train import train

    overrides = ["experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={tiny_hr_folder}",
                 f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=2",
                 "data.num_workers=0", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
                 "trainer.max_steps=4", "callbacks.checkpoint.every_n_iterations=2", "trainer.enable_progress_bar=false"]
    caplog.set_level(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(compose_config(overrides, tmp_path / "run"))
    said = [r.getMessage() for r in caplog.records] + [str(w.message) for w in caught]
    assert not [m for m in said if "`weights_only` was not set" in m or "Total length of `list`" in m], said
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "iter_000002.ckpt", "iter_000004.ckpt", "last.ckpt"]
