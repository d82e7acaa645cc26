"""What a training run prints, counted in training iterations (docs/logging.md).

* :mod:`gansr.training.run_log` - where these lines go: ``<run>/train.log`` and stdout (``RunLog``), for the whole
  of a run, with a failure's reason (``log_failure``);
* :func:`print_config_tree` - the resolved config once the run is accepted (its first iteration is about to run), as
  a tree (``rich``), also kept as ``<run>/config_tree.log``;
* :class:`IterationLog` - one line per log interval, BasicSR's form
  ``[iter 1,000/500,000] lr 1.0e-04 eta 3:12:40 l_g_pixel 1.2345e-02 ...``, into ``<run>/train.log`` (Hydra's job
  log file) and onto stdout when stdout is not a terminal (or there is no progress bar); a validation line after each
  validation; the stop message and the final validation metrics (also ``<run>/final_metrics.json``, read by the
  multirun summary) at the end;
* :class:`IterationProgressBar` - on a terminal only: one bar over the whole run, total = ``trainer.max_steps``
  iterations, ETA from tqdm;
* :func:`quiet_known_noise` - the harmless library messages of every run, filtered at their source by their exact
  text (each with the reason it is harmless here); every other warning still shows.

Values are read from the device only on logging iterations (``trainer.callback_metrics`` converts them), so the log
adds no host sync to the other iterations.
"""
from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar

from gansr.training import threads
from gansr.training.run_log import LOG, RunLog
from gansr.utils.atomic import write_text_atomic

#: (message regex, reason) of the Python warnings every run showed and that say nothing about this project's runs
HARMLESS_WARNINGS = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated",
     "torch deprecation inside Lightning's own _pytree helper; nothing in gansr uses LeafSpec"),
    (r"Using ModelCheckpoint with manual optimization and every_n_train_steps, but no pre-optimization state",
     ("gansr saves checkpoints after the iteration's optimizer steps on purpose (the iteration counter and the "
      "weights then agree, and resume continues with the next iteration)")),
    (r"The number of training batches \(\d+\) is smaller than the logging interval",
     ("the logging interval counts iterations across epochs (Lightning's _batches_that_stepped), so short epochs "
      "still log")),
    (r"Found \d+ module\(s\) in eval mode at the start of training",
     "frozen parts (the VGG feature extractor of the perceptual loss, metric networks) stay in eval mode on purpose"),
    (r"You have overridden `on_after_batch_transfer` in `LightningModule` but have passed in a `LightningDataModule`",
     "SRModule.on_after_batch_transfer (channels_last batches) is meant to be the one used, and it is"),
    (r"Total length of `list` across ranks is zero\. Please make sure this was your intention\.",
     ("an empty list of validation (or test) sets is a choice in gansr (data.val=[]: runs and tables that validate "
      "with gansr-eval afterwards)")),
)
#: the SLURM hint is only noise for a single-process run; for several processes it may be the real problem
SRUN_HINT = r"The `srun` command is available on your system but is not used"
#: (logger-message regex) of Lightning info lines replaced by gansr's own, or advertising
HARMLESS_INFO = (
    r"💡 Tip: For seamless cloud logging",  # an advertisement for a logger gansr does not use
    r"`Trainer.fit` stopped: `max_steps=",  # counts optimizer steps (2 per GAN iteration): IterationLog says it in iterations
)
_LIGHTNING_INFO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                           "lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropMessages(logging.Filter):
    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__("gansr-known-noise")
        self.patterns = [re.compile(p) for p in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(p.search(message) for p in self.patterns)


def quiet_known_noise(single_process: bool = True, run_dir: Path | None = None) -> None:
    """Filter the known harmless messages (:data:`HARMLESS_WARNINGS`, :data:`HARMLESS_INFO`, the ``srun`` hint when
    ``single_process``, and the CSV logger's "directory exists and is not empty" for ``run_dir`` while it holds no
    ``metrics.csv`` that could be lost) by their text; idempotent. Every other warning and message is left alone."""
    for pattern, _reason in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    if single_process:
        warnings.filterwarnings("ignore", message=SRUN_HINT)
    if run_dir is not None and not (Path(run_dir) / "metrics.csv").exists():
        # the folder holds .hydra/, train.log, config_tree.log: nothing of the CSV logger's to delete
        warnings.filterwarnings("ignore", message=f"Experiment logs directory {re.escape(str(run_dir))}/? exists")
    for name in _LIGHTNING_INFO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(f.name == "gansr-known-noise" for f in logger.filters):
            logger.addFilter(_DropMessages(HARMLESS_INFO))


def print_config_tree(cfg, output_dir: Path | None = None) -> str:
    """Print the resolved config (``hydra`` excluded) once as a tree, one branch per top-level key (``rich``, as
    lightning-hydra-template does); keep the same text in ``<output_dir>/config_tree.log``. Returns that text."""
    import io

    import rich.syntax
    import rich.tree
    import yaml
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from rich.console import Console

    tree = rich.tree.Tree("config (resolved)", guide_style="dim")
    for key in (k for k in cfg if k != "hydra"):
        value = cfg[key]
        plain = OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
        text = yaml.safe_dump({key: plain}, default_flow_style=False, sort_keys=False, width=1000).rstrip()
        if "\n" not in text:  # a scalar: one line
            tree.add(text)
        else:
            body = yaml.safe_dump(plain, default_flow_style=False, sort_keys=False, width=1000).rstrip()
            tree.add(key).add(rich.syntax.Syntax(body, "yaml", theme="ansi_dark", background_color="default",
                                                 word_wrap=True))
    Console(file=sys.stdout, soft_wrap=False).print(tree)
    buffer = io.StringIO()
    Console(file=buffer, width=120, no_color=True, force_terminal=False).print(tree)
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(output_dir) / "config_tree.log", buffer.getvalue())
    return buffer.getvalue()


def stdout_is_terminal() -> bool:
    """Whether a person watches stdout live (a TTY): then a progress bar, else plain log lines."""
    return sys.stdout.isatty()


def loss_label(key: str) -> str:
    """``train/g/pixel -> l_g_pixel``, ``train/d/real_logit -> d_real_logit`` (BasicSR's ``l_`` for loss terms)."""
    name = key.removeprefix("train/").replace("/", "_")
    return name if name.endswith("_logit") else f"l_{name}"


def format_duration(seconds: float) -> str:
    """``11560.4 -> '3:12:40'``; ``'?'`` when unknown."""
    return str(timedelta(seconds=int(seconds))) if math.isfinite(seconds) and seconds >= 0 else "?"


def format_total(max_iterations: int) -> str:
    """``500000 -> '500,000'``; ``'?'`` for an unbounded run (``max_steps=-1``)."""
    return f"{max_iterations:,}" if max_iterations > 0 else "?"


def iteration_line(iteration: int, max_iterations: int, lrs: list[float], eta_seconds: float,
                   values: dict[str, float]) -> str:
    """``[iter 1,000/500,000] lr 1.0e-04 eta 3:12:40 l_g_pixel 1.2345e-02 ...`` (BasicSR's order: counter, learning
    rate, time left, then the logged terms). Several optimizers with different rates: ``lr 1.0e-04/5.0e-05``."""
    total = format_total(max_iterations)
    rates = "/".join(f"{lr:.1e}" for lr in dict.fromkeys(lrs)) or "-"
    terms = " ".join(f"{loss_label(k)} {v:.4e}" for k, v in values.items())
    return f"[iter {iteration:,}/{total}] lr {rates} eta {format_duration(eta_seconds)} {terms}".rstrip()


def max_iterations(trainer: pl.Trainer, pl_module: pl.LightningModule) -> int:
    """``trainer.max_steps`` (optimizer steps) back in training iterations; -1 when unbounded."""
    if trainer.max_steps is None or trainer.max_steps < 0:
        return -1
    return trainer.max_steps // getattr(pl_module, "optimizer_steps_per_iteration", 1)


class IterationLog(pl.Callback):
    """The run's text log, in iterations (see the module docstring).

    Args:
        log_file: ``<run>/train.log``; under ``@hydra.main`` that is Hydra's job log file, whose handler is reused.
        every_n_iterations: the interval of the iteration lines (gansr-train passes ``trainer.log_every_n_steps``,
            which Lightning counts in batches = iterations, so the lines come with the CSV rows).
        echo_iterations: also print the iteration lines on stdout (gansr-train: when stdout is not a terminal or
            there is no progress bar). Validation lines, the stop message and final metrics always go to stdout.
        config: the run's config, printed as a tree (:func:`print_config_tree`) when training starts: a request
            refused before (a bad value, a missing dataset, a stop signal) prints no tree.
    """

    def __init__(self, log_file: str | Path, every_n_iterations: int = 50, echo_iterations: bool = True,
                 config=None) -> None:
        self.log_file = Path(log_file)
        self.every_n_iterations = max(1, int(every_n_iterations))
        self.echo_iterations = echo_iterations
        self.config = config
        self._run_log: RunLog | None = None
        self._start_time = 0.0
        self._start_iteration = 0
        self.last_validation: dict[str, float] = {}
        self.last_validation_iteration: int | None = None
        self._trained_this_fit = False

    # ---------------------------------------------------------------- handlers
    def _attach(self) -> None:
        self._run_log = RunLog(self.log_file, self.echo_iterations).__enter__()  # shares train()'s, when open

    def _detach(self) -> None:
        if self._run_log is not None:
            self._run_log.__exit__(None, None, None)
            self._run_log = None

    # ---------------------------------------------------------------- hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._trained_this_fit = False
        if trainer.is_global_zero:
            self._attach()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start_time = time.monotonic()
        self._start_iteration = getattr(pl_module, "iteration", 0)
        if trainer.is_global_zero:
            if self.config is not None:
                print_config_tree(self.config, self.log_file.parent)
            counts = ", ".join(f"{name} {sum(p.numel() for p in child.parameters()) / 1e6:.2f} M"
                               for name, child in pl_module.named_children()
                               if any(True for _ in child.parameters()))
            LOG.info(f"[gansr] {type(pl_module).__name__}: {counts or 'no parameters'}; iterations "
                     f"{self._start_iteration:,} -> {format_total(max_iterations(trainer, pl_module))}; "
                     f"{threads.CHOSEN or f'{torch.get_num_threads()} CPU threads'}; a log line every "
                     f"{self.every_n_iterations:,} iterations in {self.log_file}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._trained_this_fit = True
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        last = max_iterations(trainer, pl_module)
        if not trainer.is_global_zero or (iteration % self.every_n_iterations and iteration != last):
            return
        metrics = trainer.callback_metrics  # a logging iteration: reading the values here is the only host sync
        values = {k: float(v) for k, v in metrics.items()
                  if k.startswith("train/") and k != "train/iteration" and v.numel() == 1}
        lrs = [group["lr"] for optimizer in trainer.optimizers for group in optimizer.param_groups]
        LOG.info(iteration_line(iteration, last, lrs, self.eta_seconds(iteration, last), values),
                 extra={"iteration_line": True})

    def eta_seconds(self, iteration: int, last: int) -> float:
        """Time left at the mean pace of this fit so far (validation included); inf when unknown."""
        done = iteration - self._start_iteration
        if done <= 0 or last < 0:
            return math.inf
        return (time.monotonic() - self._start_time) / done * (last - iteration)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        values = {k.removeprefix("val/"): float(v) for k, v in trainer.callback_metrics.items()
                  if k.startswith("val/") and v.numel() == 1}
        if not values:
            return
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        self.last_validation, self.last_validation_iteration = values, iteration
        last = max_iterations(trainer, pl_module)
        LOG.info(f"[iter {iteration:,}/{format_total(last)}] validation " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        last = max_iterations(trainer, pl_module)
        reason = "trainer.max_steps reached" if iteration == last else "stopped early"
        LOG.info(f"[gansr] training stopped at iteration {iteration:,} of {format_total(last)} ({reason}) after "
                 f"{format_duration(time.monotonic() - self._start_time)}")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        try:
            self.report_final_metrics(trainer, pl_module)
        finally:
            self._detach()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._detach()

    def report_final_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Print the last validation's metrics and write them to ``<run>/final_metrics.json``
        (``{"iteration": ..., "validated_at": ..., "metrics": {"<set>/<metric>": value}}``)."""
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        final = self.log_file.parent / "final_metrics.json"
        if not self._trained_this_fit and final.is_file():  # a finished run resumed (gansr-demo again): keep its record
            LOG.info(f"[gansr] nothing left to train at iteration {iteration:,}; {final} kept")
            return
        if self.last_validation:
            lines = [f"[gansr] final validation (iteration {self.last_validation_iteration:,}):"]
            lines += [f"    {k:<32} {v:.4f}" for k, v in self.last_validation.items()]
            LOG.info("\n".join(lines))
        else:
            LOG.info("[gansr] no validation ran in this fit (no validation set, or val_check_interval > iterations)")
        record = {"iteration": iteration, "validated_at": self.last_validation_iteration, "metrics": self.last_validation}
        write_text_atomic(final, json.dumps(record, indent=2) + "\n")


class IterationProgressBar(TQDMProgressBar):
    """tqdm bar over the whole run in training iterations (Lightning's counts optimizer steps per epoch): total =
    ``trainer.max_steps`` iterations, started at the resumed iteration, so its ETA is the run's time left."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        last = max_iterations(trainer, pl_module)
        bar = self.train_progress_bar
        bar.reset(total=last if last > 0 else None)
        bar.initial = bar.n = getattr(pl_module, "iteration", 0)
        bar.set_description("iter")

    def on_train_epoch_start(self, trainer: pl.Trainer, *_) -> None:
        """One bar for the whole run: nothing to reset at an epoch boundary."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration = getattr(pl_module, "iteration", trainer.global_step)
        bar = self.train_progress_bar
        if bar is not None and self._should_update(iteration, bar.total):
            bar.n = iteration
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        """The progress-bar values with BasicSR-style names; no ``v_num``."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return {loss_label(k) if k.startswith("train/") else k: v for k, v in metrics.items()}
