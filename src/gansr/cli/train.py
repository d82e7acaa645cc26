"""``gansr-train``: compose a Hydra config, build datamodule, module, callbacks, loggers and trainer, fit.

    gansr-train experiment=esrgan trainer.max_steps=10
    gansr-train -m experiment=esrgan loss.adversarial_weight=5e-3,1e-2        # a sweep
    gansr-train experiment=esrgan run_name=long resume=auto                  # continue the newest checkpoint
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import TQDMProgressBar

from gansr.cli import CONF_DIR
from gansr.training.checkpointing import AtomicCheckpointIO, newest_checkpoint
from gansr.training.slurm import cluster_plugins, requeue_after_preemption, resume_when_requeued
from gansr.training.speed import apply_speed_settings

# conf/hydra/launcher/submitit_*.yaml extend hydra-submitit-launcher's schema of the same name on purpose
warnings.filterwarnings("ignore", message=r"(?s).*validated against ConfigStore schema with the same name", category=UserWarning)


def build_trainer(cfg: DictConfig, module: pl.LightningModule) -> pl.Trainer:
    """The Lightning Trainer of ``cfg.trainer`` with callbacks and loggers; ``max_steps`` (iterations) is turned
    into optimizer steps (``module.optimizer_steps_per_iteration`` per batch)."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(TQDMProgressBar(refresh_rate=cfg.speed.progress_bar_refresh_rate))
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    max_iterations = cfg.trainer.max_steps
    max_steps = -1 if max_iterations < 0 else max_iterations * module.optimizer_steps_per_iteration
    return instantiate(
        cfg.trainer,
        max_steps=max_steps,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO(), *cluster_plugins()],
    )


def resolve_resume(resume: str | None, output_dir: Path) -> str | None:
    """``null`` -> None; ``auto`` -> the newest checkpoint under this run's folder (None when there is none);
    a path -> that path (error when it does not exist)."""
    if resume is None:
        return None
    if resume == "auto":
        found = newest_checkpoint(output_dir / "checkpoints")
        print(f"[gansr] resume=auto: {'continuing from ' + str(found) if found else 'no checkpoint yet, starting fresh'}")
        return str(found) if found else None
    if not Path(resume).is_file():
        raise FileNotFoundError(f"resume={resume}: no such checkpoint file")
    return resume


def use_offline_wandb_without_credentials(cfg: DictConfig) -> None:
    """W&B without an account: when the wandb logger is on and no API key is configured, log offline (said)."""
    if "wandb" not in (cfg.get("logger") or {}) or os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY"):
        return
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return
    os.environ["WANDB_MODE"] = "offline"
    print("[gansr] no W&B credentials found: logging offline (wandb sync <run>/wandb/offline-run-* later)")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the configured run; returns the final logged metrics as floats."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    use_offline_wandb_without_credentials(cfg)
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.module)
    apply_speed_settings(module, cfg.speed)
    trainer = build_trainer(cfg, module)
    resolved = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_resume(cfg.resume, output_dir))
        if cfg.test_after_fit:
            trainer.test(module, datamodule=datamodule)
        if trainer.is_global_zero:
            export_path = output_dir / "generator.pth"
            torch.save({**module.generator_state(), "config": generator_config(cfg)}, export_path)
            print(f"[gansr] run folder: {output_dir}\n[gansr] generator weights: {export_path}")
    finally:
        finish_wandb(trainer)
        requeue_after_preemption(trainer)  # SLURM: after last.ckpt, requeue; the job continues from it
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def generator_config(cfg: DictConfig) -> dict:
    """What ``gansr-upscale`` needs to rebuild the generator path of a run (stored in ``generator.pth``)."""
    sharing = cfg.get("sharing")
    return {
        "generator": OmegaConf.to_container(cfg.generator, resolve=True),
        "extractor": OmegaConf.to_container(sharing, resolve=True) if sharing else None,
        "scale": int(cfg.scale),
    }


def finish_wandb(trainer: pl.Trainer) -> None:
    """Close the W&B run even when fitting failed, so one failed job does not stop a sweep."""
    if any(type(logger).__name__ == "WandbLogger" for logger in trainer.loggers):
        import wandb

        wandb.finish()


@hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    cfg.resume = resume_when_requeued(cfg.resume)  # a requeued SLURM job continues its run
    metrics = train(cfg)
    if cfg.optimized_metric:
        return metrics[cfg.optimized_metric]
    return None


if __name__ == "__main__":
    main()
