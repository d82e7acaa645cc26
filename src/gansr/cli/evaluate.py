"""``gansr-eval``: score a generator file (or MATLAB-exact bicubic) on benchmark sets and write a table.

    gansr-eval checkpoint=outputs/esrgan/run/generator.pth sets=[Set5,Set14,BSD100] paths.data_dir=../shared/data
    gansr-eval sets=[Set5] metrics=[psnr_y,ssim_y]                      # the Bicubic row
    gansr-eval checkpoint=[RealESRGAN_x4plus.pth,outputs/esrgan/run/generator.pth,bicubic] sets=[Set5]  # one table
    gansr-eval checkpoint={Real-ESRGAN:RealESRGAN_x4plus.pth,ours:G.pth} sets=[Set5]    # rows labelled by hand
    gansr-eval root=../shared/data sets=[Urban100] folders={Urban100:Urban100_subset}

A checkpoint is a gansr generator file, a run's ``.ckpt``, or a public weight file of any RGB SR architecture
spandrel detects (Real-ESRGAN, SwinIR, official ESRGAN, ...; docs/inference.md); several give one row per
checkpoint and set in one table.

The sets are read from ``root`` (default ``paths.data_dir``: ``$GANSR_DATA``, else ``./datasets``). With
``metrics=null`` (the default) every metric of ``psnr_y, ssim_y, lpips, niqe, ma, pi`` whose weight files exist is
scored and one line names the others; NIQE finds the official parameters shipped next to the data
(``<root>/metrics/niqe/modelparameters.mat``). A missing set or a missing weight file of a named metric stops with
one line.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, ListConfig

from gansr.archs.bicubic import BicubicUpsampler
from gansr.cli import CONF_DIR
from gansr.data.benchmarks import benchmark_dataset
from gansr.data.image_io import DatasetNotFoundError
from gansr.evaluation import evaluate_upscaler, write_table
from gansr.inference import load_generator_file, tiled_upscale
from gansr.metrics.availability import DEFAULT_METRICS, available_metrics
from gansr.utils.interop import ForeignGenerator
from gansr.utils.weights import MissingWeightError, find_shipped_niqe_params


def build_upscaler(checkpoint: str | None, label: str | None, cfg: DictConfig, device: str) -> tuple[torch.nn.Module, str]:
    """The up-scaler of one ``checkpoint`` (``None`` or "bicubic": MATLAB-exact bicubic) and its row label:
    ``label``, else "Bicubic", a gansr file's run folder name, or a public file's name (spandrel-detected)."""
    if checkpoint is None or checkpoint == "bicubic":
        return BicubicUpsampler(scale=cfg.scale).to(device), label or "Bicubic"
    upscaler = load_generator_file(checkpoint, use_ema=cfg.use_ema).to(device)
    if upscaler.scale != cfg.scale:
        raise ValueError(f"{checkpoint} is a x{upscaler.scale} generator but scale={cfg.scale}")
    foreign = isinstance(upscaler.generator, ForeignGenerator)
    return upscaler, label or (Path(checkpoint).stem if foreign else Path(checkpoint).resolve().parent.name)


def checkpoint_entries(cfg: DictConfig) -> list[tuple[str | None, str | None]]:
    """``[(checkpoint, row label or None)]``: ``checkpoint`` is one path (labelled ``method``), a list of paths
    (each labelled by its name; ``bicubic`` for the Bicubic row) or a ``{label: path}`` mapping; ``null``: bicubic."""
    value = cfg.checkpoint
    if isinstance(value, DictConfig):
        return [(str(path), str(label)) for label, path in value.items()]
    if isinstance(value, ListConfig):
        if cfg.method is not None:
            raise ValueError("method= labels one checkpoint; label several with checkpoint={label: path, ...}")
        return [(str(path), None) for path in value]
    return [(value, cfg.method)]


def evaluate(cfg: DictConfig) -> list[dict[str, object]]:
    """One row per checkpoint and set: ``{"method", "set", "images", <metric>: mean ...}``, all in one table;
    writes ``results.{md,csv}``."""
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    upscalers = [build_upscaler(path, label, cfg, device) for path, label in checkpoint_entries(cfg)]
    methods = [method for _, method in upscalers]
    if len(set(methods)) < len(methods):
        raise ValueError(f"two checkpoints would share a row label ({methods}); label them: "
                         "checkpoint={label: path, ...}")
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
        dataset.use_lr_kind(cfg.lr)
        dataset.prepare()
        for upscaler, method in upscalers:
            upscale = functools.partial(tiled_upscale, upscaler.eval(), scale=cfg.scale, tile=cfg.tile,
                                        overlap=cfg.tile_overlap)
            save_dir = out_dir / (dataset.name if len(upscalers) == 1 else f"{method}/{dataset.name}")
            scores = evaluate_upscaler(upscale, dataset, metric_names, crop_border=cfg.crop_border, lpips_version=cfg.lpips_version,
                                       round_y=cfg.round_y, niqe_params_path=niqe_params, device=device, save_dir=save_dir if cfg.save_images else None)
            rows.append({"method": method, "set": dataset.name, "images": len(dataset), **scores})
    table = write_table(rows, out_dir / "results.md", out_dir / "results.csv", title=f"{', '.join(methods)}, x{cfg.scale}" + ("" if cfg.lr == "bicubic" else f", {cfg.lr.upper()} LR"))
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
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    except (DatasetNotFoundError, MissingWeightError, ValueError) as err:  # incl. UnrecognisedWeightsError
        raise SystemExit(f"gansr-eval: error: {err}") from None


if __name__ == "__main__":
    main()
