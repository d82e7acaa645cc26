"""``gansr-eval``: score a generator file (or MATLAB-exact bicubic) on benchmark sets and write a table.

    gansr-eval checkpoint=outputs/esrgan/run/generator.pth sets=[Set5,Set14,BSD100] paths.data_dir=../shared/data
    gansr-eval sets=[Set5] metrics=[psnr_y,ssim_y]                      # the Bicubic row
    gansr-eval root=../shared/data sets=[Urban100] folders={Urban100:Urban100_subset}

The sets are read from ``root`` (default ``paths.data_dir``: ``$GANSR_DATA``, else ``./datasets``). With
``metrics=null`` (the default) every metric of ``psnr_y, ssim_y, lpips, niqe, ma, pi`` whose weight files exist is
scored and one line names the others; NIQE finds the official parameters shipped next to the data
(``<root>/metrics/niqe/modelparameters.mat``). A missing set or a missing weight file of a named metric stops with
one line, as does any bad value or file (``gansr.cli.errors``).
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from gansr.archs.bicubic import BicubicUpsampler
from gansr.cli import CONF_DIR
from gansr.cli.errors import report_errors
from gansr.data.benchmarks import benchmark_dataset
from gansr.evaluation import evaluate_upscaler, write_table
from gansr.inference import load_generator_file, tiled_upscale
from gansr.metrics.availability import DEFAULT_METRICS, available_metrics
from gansr.utils.device import usable_device
from gansr.utils.errors import InvalidValueError
from gansr.utils.weights import find_shipped_niqe_params


def build_upscaler(cfg: DictConfig, device: str) -> tuple[torch.nn.Module, str]:
    """The up-scaler of ``cfg`` and its row label."""
    if cfg.checkpoint is None:
        return BicubicUpsampler(scale=cfg.scale).to(device), cfg.method or "Bicubic"
    upscaler = load_generator_file(cfg.checkpoint, use_ema=cfg.use_ema).to(device)
    if upscaler.scale != cfg.scale:
        raise InvalidValueError(f"{cfg.checkpoint} is a x{upscaler.scale} generator but scale={cfg.scale}: pass "
                                f"scale={upscaler.scale}")
    return upscaler, cfg.method or Path(cfg.checkpoint).resolve().parent.name


def check_values(cfg: DictConfig) -> None:
    """``scale`` >= 1, ``tile`` and ``tile_overlap`` >= 0, at least one set; else :class:`InvalidValueError`."""
    for key, least in (("scale", 1), ("tile", 0), ("tile_overlap", 0)):
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise InvalidValueError(f"{key}={value}: give an integer >= {least}"
                                    + (" (0 = no tiling)" if key == "tile" else ""))
    if not cfg.sets:
        raise InvalidValueError("sets=[]: name at least one set, e.g. sets=[Set5]")


def evaluate(cfg: DictConfig) -> list[dict[str, object]]:
    """One row per set: ``{"method", "set", "images", <metric>: mean ...}``; writes ``results.{md,csv}``."""
    check_values(cfg)
    device = str(usable_device(cfg.device, "device="))
    upscaler, method = build_upscaler(cfg, device)
    upscale = functools.partial(tiled_upscale, upscaler.eval(), scale=cfg.scale, tile=cfg.tile, overlap=cfg.tile_overlap)
    out_dir = Path(cfg.out_dir)
    niqe_params = cfg.niqe_params or find_shipped_niqe_params(cfg.root)
    metric_names = list(cfg.metrics) if cfg.metrics is not None else None
    if metric_names is None:
        metric_names, note = available_metrics(DEFAULT_METRICS, niqe_params_path=niqe_params, search=(cfg.root,))
        if note:
            print(f"gansr-eval: {note}", file=sys.stderr)
    rows = []
    for name in cfg.sets:
        dataset = benchmark_dataset(name, cfg.root, scale=cfg.scale, mod=cfg.mod, cache_dir=Path(cfg.paths.cache_dir),
                                    folder=cfg.folders.get(name))
        dataset.prepare()
        scores = evaluate_upscaler(upscale, dataset, metric_names, crop_border=cfg.crop_border, lpips_version=cfg.lpips_version,
                                   round_y=cfg.round_y, niqe_params_path=niqe_params, device=device, save_dir=out_dir / dataset.name if cfg.save_images else None)
        rows.append({"method": method, "set": dataset.name, "images": len(dataset), **scores})
    table = write_table(rows, out_dir / "results.md", out_dir / "results.csv", title=f"{method}, x{cfg.scale}")
    print(table)
    print(f"[gansr] table: {out_dir / 'results.md'} and {out_dir / 'results.csv'}")
    if cfg.wandb:
        log_table_to_wandb(rows, cfg)
    return rows


def log_table_to_wandb(rows: list[dict[str, object]], cfg: DictConfig) -> None:
    import wandb

    run = wandb.init(project="gansr", job_type="eval", name=cfg.run_name, dir=cfg.out_dir)
    run.log({"eval/results": wandb.Table(columns=list(rows[0]), data=[list(r.values()) for r in rows])})
    run.finish()


@hydra.main(config_path=str(CONF_DIR), config_name="eval", version_base="1.3")
@report_errors("gansr-eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
