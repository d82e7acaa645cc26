"""``gansr-train``: compose a Hydra config, build datamodule, module, callbacks, loggers and trainer, fit.

    gansr-train experiment=esrgan trainer.max_steps=10
    gansr-train -m experiment=esrgan loss.adversarial_weight=5e-3,1e-2        # a sweep
    gansr-train experiment=esrgan run_name=long resume=auto                  # continue the newest checkpoint

Run lifecycle (docs/reliability.md): one live run per folder (``run.lock``) and one run per folder (a finished run's
``run_name`` needs ``resume=auto``), checkpoints named by iteration with one ``last.ckpt``, SIGTERM/SIGUSR1/first
Ctrl-C save ``last.ckpt`` + ``generator.pth`` and exit 0 (a ``-m`` sweep then starts no later job); such a signal
before the first iteration (while imports run or the data are prepared) stops with exit 0, the lock released
(requeued under SLURM). A refused request changes nothing in the run folder; it and a failed run end with one line,
``gansr-train: error: ...``, exit 1 (``gansr.cli.errors``), a failed run's reason also in ``<run>/train.log``.
Config keys that nothing reads are refused (docs/configs.md); CPU threads: ``speed.threads`` (docs/speed.md).
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m gansr.cli.train: stop signals are caught before torch is imported
    from gansr.utils.stop_signals import catch_stop_signals

    catch_stop_signals()

import os
import signal
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gansr.cli import CONF_DIR, group_keys, register_resolvers
from gansr.cli.errors import report_errors
from gansr.training.checkpointing import (
    AtomicCheckpointIO,
    NotATrainingCheckpointError,
    checkpoint_iteration,
    newest_valid_checkpoint,
)
from gansr.training.config_keys import ConfigReads, check_config_keys, pretrain_note
from gansr.training.console import (
    IterationLog,
    IterationProgressBar,
    quiet_known_noise,
    stdout_is_terminal,
)
from gansr.training.divergence import DivergenceError
from gansr.training.preemption import PreemptionCheckpoint, stop_sweep_after_stopped_job
from gansr.training.run_folder import check_new_run_folder, no_earlier_run_line
from gansr.training.run_lock import RunLock
from gansr.training.run_log import LOG, RunLog, log_failure
from gansr.training.run_record import check_resume_architecture, write_hydra_files
from gansr.training.slurm import (
    cluster_plugins,
    requeue_after_preemption,
    requeue_job,
    resume_when_requeued,
)
from gansr.training.speed import apply_speed_settings
from gansr.training.threads import apply_threads
from gansr.utils import stop_signals
from gansr.utils.atomic import torch_save_atomic
from gansr.utils.console_streams import guard_console_streams
from gansr.utils.errors import GansrError
from gansr.utils.run_folder import generator_file_config

# conf/hydra/launcher/submitit_*.yaml extend hydra-submitit-launcher's schema of the same name on purpose
warnings.filterwarnings("ignore", message=r"(?s).*validated against ConfigStore schema with the same name", category=UserWarning)


def build_trainer(cfg: DictConfig, module: pl.LightningModule) -> pl.Trainer:
    """The Lightning Trainer of ``cfg.trainer`` with callbacks and loggers; ``max_steps`` (iterations) is turned
    into optimizer steps (``module.optimizer_steps_per_iteration`` per batch). What it prints, in iterations:
    :mod:`gansr.training.console` (docs/logging.md)."""
    quiet_known_noise(single_process=cfg.trainer.get("devices", 1) == 1 and cfg.trainer.get("num_nodes", 1) == 1,
                      run_dir=Path(cfg.paths.output_dir))
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    show_bar = shows_progress_bar(cfg)
    if show_bar:
        callbacks.append(IterationProgressBar(refresh_rate=cfg.speed.progress_bar_refresh_rate))
    callbacks.append(IterationLog(Path(cfg.paths.output_dir) / "train.log",
                                  every_n_iterations=cfg.trainer.get("log_every_n_steps", 50), echo_iterations=not show_bar,
                                  config=cfg))  # the config tree is printed once training starts
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    max_iterations = cfg.trainer.max_steps  # checked by check_max_steps in train()
    max_steps = -1 if max_iterations < 0 else max_iterations * module.optimizer_steps_per_iteration
    return instantiate(
        cfg.trainer,
        max_steps=max_steps,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO(), *cluster_plugins()],
        enable_progress_bar=show_bar,
        # Lightning's module table (with "Total FLOPs: 0" on CPU) is replaced by IterationLog's one-line count
        enable_model_summary=cfg.trainer.get("enable_model_summary", False),
        enable_checkpointing=False,  # checkpoints are callbacks.checkpoint's (IterationCheckpoint), not Lightning's
    )


#: what gansr-train reads from the composed config itself; the rest is read by what it builds (docs/configs.md)
TRAIN_READS = ConfigReads(
    whole=("data", "module", "trainer", "callbacks", "logger", "resume", "seed", "test_after_fit", "optimized_metric",
           "run_name", "task_name", "tags", "scale", "wandb_group", "generator", "sharing"),
    keys={"speed": group_keys("speed"), "paths": group_keys("paths"), "pretrain": frozenset({"preset", "max_steps"})},
)



def shows_progress_bar(cfg: DictConfig) -> bool:
    """A bar on a terminal only; a redirected stdout (a log file, a batch job) gets one line per log interval."""
    return bool(cfg.trainer.get("enable_progress_bar", True)) and stdout_is_terminal()


class RunRequestError(GansrError, ValueError):
    """A ``gansr-train`` request that cannot run as given (``trainer.max_steps``, ``resume``); the message, one
    line, says what to pass instead. ``gansr-train`` prints it without a traceback and exits 1."""


def check_max_steps(max_steps: int) -> int:
    """``trainer.max_steps``: a positive number of iterations, or -1 for no limit; anything else is refused."""
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or not (max_steps == -1 or max_steps > 0):
        raise RunRequestError(f"trainer.max_steps={max_steps}: give a positive number of training iterations, or -1 "
                              "for no limit")
    return max_steps


def resolve_resume(resume: str | None, output_dir: Path) -> str | None:
    """``null`` -> None; ``auto`` -> the checkpoint under this run's folder with the highest stored iteration that
    loads (None when there is none; every file skipped is named with the reason); a path -> that path, when it is
    a training checkpoint of ``gansr-train`` (else a one-line error saying what to pass instead)."""
    if resume is None:
        return None
    if resume == "auto":
        found, skipped = newest_valid_checkpoint(output_dir / "checkpoints")
        for line in skipped:
            LOG.info(f"[gansr] resume=auto: skipped {line}")
        if found:
            LOG.info(f"[gansr] resume=auto: continuing from {found} (iteration {checkpoint_iteration(found)})")
        else:
            LOG.info(no_earlier_run_line(output_dir) if not skipped else "[gansr] resume=auto: no checkpoint loads, "
                     "starting fresh")
        return str(found) if found else None
    if not Path(resume).is_file():
        raise RunRequestError(f"resume={resume}: no such checkpoint file; pass a run's checkpoints/last.ckpt, or "
                              "resume=auto with its run_name")
    try:
        checkpoint_iteration(resume)
    except NotATrainingCheckpointError as err:
        raise RunRequestError(f"resume={resume}: {err}. To continue a run pass resume=<run>/checkpoints/last.ckpt "
                              "(or resume=auto with its run_name); to start a new run from these weights pass "
                              f"module.generator_init={resume}") from None
    except ValueError as err:
        raise RunRequestError(f"resume={resume}: {err}; pass another checkpoint of the run (resume=auto picks the "
                              "newest one that loads)") from None
    return resume


class TrainResult(dict):
    """What ``train()`` returns: the final logged metrics (name -> float), plus how the run ended.

    Attributes:
        preempted_by: the number of the signal (``signal.SIGTERM``, ``SIGUSR1``, ``SIGINT``) that stopped the run
            with a checkpoint before ``trainer.max_steps``, or before its first iteration (then ``iteration`` is
            None and nothing was saved); None when it ran to its end.
        iteration: the training iteration reached; None when stopped before the first iteration.
    """

    def __init__(self, metrics: dict[str, float], preempted_by: int | None, iteration: int | None) -> None:
        super().__init__(metrics)
        self.preempted_by = preempted_by
        self.iteration = iteration


def use_offline_wandb_without_credentials(cfg: DictConfig) -> None:
    """W&B without an account: when the wandb logger is on and no API key is configured, log offline (said)."""
    if "wandb" not in (cfg.get("logger") or {}) or os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY"):
        return
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return
    os.environ["WANDB_MODE"] = "offline"
    print("[gansr] no W&B credentials found: logging offline (wandb sync <run>/wandb/offline-run-* later)")


def train(cfg: DictConfig, record_hydra_files: bool = False) -> TrainResult:
    """Fit (and optionally test) the configured run in its folder, holding the folder's ``run.lock``; returns the
    final logged metrics as floats, with ``preempted_by`` set when a signal stopped the run (no test then).
    ``record_hydra_files`` (``gansr-train``): write ``.hydra/`` once the run is accepted (``run_record``).

    A request that is refused (a typo'd key, a finished run's folder, a resume with other networks) changes nothing
    in the run folder. A stop signal before the first iteration (:mod:`gansr.utils.stop_signals`) ends the call
    with nothing saved, the lock released and, under SLURM, the job requeued. Once the run is accepted its messages
    and, for a failure, its reason go to ``<run>/train.log`` too (``RunLog``)."""
    output_dir = Path(cfg.paths.output_dir)
    progress: dict[str, int] = {}  # the iteration the fit reached, for the failure line
    try:
        with stop_signals.armed(), RunLock(output_dir), \
                RunLog(output_dir / "train.log", not shows_progress_bar(cfg), held=True) as run_log:
            try:
                return _train_in_folder(cfg, output_dir, progress, run_log, record_hydra_files)
            except stop_signals.StopRequested as stop:
                LOG.info(stopped_before_training(stop.signum))
                stop.said = True
                raise
            except SystemExit as err:  # 0: a SLURM job requeued after its last.ckpt; else an abort (a second Ctrl-C)
                if err.code not in (0, None):
                    log_failure(err, progress.get("iteration"))
                raise
            except BaseException as err:
                log_failure(err, progress.get("iteration"))  # kept out of train.log when the run was refused
                raise
    except stop_signals.StopRequested as stop:  # the signal handlers in place before are back: requeue may use them
        if not getattr(stop, "said", False):  # it came before the run folder was taken
            print(stopped_before_training(stop.signum), flush=True)
        requeue_job(stop.signum, rank_zero_only.rank == 0, continues_from="its newest checkpoint (resume=auto)")
        return TrainResult({}, stop.signum, None)


def stopped_before_training(signum: int) -> str:
    """The line said when a stop signal ends a run before its first iteration."""
    return (f"[gansr] {signal.Signals(signum).name} received: stopped before the first iteration; nothing was "
            "trained or saved (the run folder's lock is released; run the same command to start it again)")


def newest_checkpoint_note(folder: Path) -> str:
    """What a diverged run leaves to continue from: the newest checkpoint in ``folder`` (all are from before the
    non-finite step: the guard runs before any checkpoint is written), or that there is none."""
    found, _ = newest_valid_checkpoint(folder)
    if found is None:
        return "No checkpoint was written before it: start the run again."
    return (f"The newest checkpoint, {found} (iteration {checkpoint_iteration(found):,}), is from before it: continue "
            "from it with resume=auto.")


def _train_in_folder(cfg: DictConfig, output_dir: Path, progress: dict[str, int], run_log: RunLog,
                     record_hydra_files: bool) -> TrainResult:
    cfg = check_config_keys(cfg, TRAIN_READS)  # keys nothing reads are refused; groups the stage does not use dropped
    check_max_steps(cfg.trainer.max_steps)
    check_new_run_folder(output_dir, cfg.resume)  # never two runs in one folder
    ckpt_path = resolve_resume(cfg.resume, output_dir)
    check_resume_architecture(cfg, ckpt_path)
    # accepted: only now does anything in the run folder change (docs/reliability.md)
    if record_hydra_files:
        write_hydra_files(output_dir, cfg)
    run_log.accept()  # the lines held so far (resume=auto) go to train.log, and every later one
    if note := pretrain_note(cfg):
        LOG.info(note)
    pl.seed_everything(cfg.seed, workers=True)
    use_offline_wandb_without_credentials(cfg)
    apply_threads(cfg.speed.get("threads"), cfg.trainer.get("devices", 1), cfg.data.get("num_workers"))  # docs/speed.md
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.module)
    apply_speed_settings(module, cfg.speed)
    trainer = build_trainer(cfg, module)
    resolved = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved)
    preemption = next((c for c in trainer.callbacks if isinstance(c, PreemptionCheckpoint)), None)
    if preemption is None:  # nothing would act on a signal once training runs: the default handlers do
        stop_signals.release()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        progress["iteration"] = module.iteration
        preempted_by = preemption.received if preemption is not None and preemption.stopped else None
        if cfg.test_after_fit and preempted_by is None:
            trainer.test(module, datamodule=datamodule)
        if trainer.is_global_zero:
            export_path = output_dir / "generator.pth"
            torch_save_atomic({**module.generator_state(), "config": generator_config(cfg)}, export_path)
            LOG.info(f"[gansr] run folder: {output_dir}\n[gansr] generator weights: {export_path}")
    except DivergenceError as err:
        checkpoints = next((Path(c.dirpath) for c in trainer.callbacks if hasattr(c, "last_path")), output_dir / "checkpoints")
        raise DivergenceError(f"{err} {newest_checkpoint_note(checkpoints)}") from None
    finally:
        progress.setdefault("iteration", module.iteration)
        finish_wandb(trainer)
        requeue_after_preemption(trainer)  # SLURM: after last.ckpt, requeue; the job continues from it
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    return TrainResult(metrics, preempted_by, module.iteration)


def generator_config(cfg: DictConfig) -> dict:
    """What ``gansr-upscale`` needs to rebuild the generator path of a run (stored in ``generator.pth``)."""
    sharing = cfg.get("sharing")
    return generator_file_config({"generator": OmegaConf.to_container(cfg.generator, resolve=True),
                                  "sharing": OmegaConf.to_container(sharing, resolve=True) if sharing else None,
                                  "scale": int(cfg.scale)})


def finish_wandb(trainer: pl.Trainer) -> None:
    """Close the W&B run even when fitting failed, so one failed job does not stop a sweep."""
    if any(type(logger).__name__ == "WandbLogger" for logger in trainer.loggers):
        import wandb

        wandb.finish()


register_resolvers()  # conf/train.yaml's run_name


def main() -> None:
    """``gansr-train``: console output that survives a closed pipe (``| tee`` and Ctrl-C), then Hydra's main."""
    guard_console_streams()
    _hydra_main()


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
@report_errors("gansr-train")  # a refused request, a missing dataset, a divergence, a full disk: one line, exit 1
def _hydra_main(cfg: DictConfig) -> float | None:
    cfg.resume = resume_when_requeued(cfg.resume)  # a requeued SLURM job continues its run
    metrics = train(cfg, record_hydra_files=True)
    stop_sweep_after_stopped_job(metrics.preempted_by)  # -m: one signal stops the whole sweep
    if cfg.optimized_metric and metrics.iteration is not None:
        return metrics[cfg.optimized_metric]
    return None


if __name__ == "__main__":
    main()
