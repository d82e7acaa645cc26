"""``gansr-eval``: score generator files (or MATLAB-exact bicubic) on benchmark sets and write one table.

    gansr-eval checkpoint=outputs/esrgan/gan/generator.pth sets=[Set5,Set14,BSD100] paths.data_dir=../shared/data
    gansr-eval checkpoint=[outputs/esrgan/a/generator.pth,outputs/esrgan/b/generator.pth] sets=[Set5]   # two rows per set
    gansr-eval sets=[Set5] metrics=[psnr_y,ssim_y]                      # the Bicubic row
    gansr-eval root=../shared/data sets=[Urban100] folders={Urban100:Urban100_subset}

Rows are labelled by the run each file belongs to (its ``run_name``; ``method=`` overrides, one label per file).

The sets are read from ``root`` (default ``paths.data_dir``: ``$GANSR_DATA``, else ``./datasets``). With
``metrics=null`` (the default) every metric of ``psnr_y, ssim_y, lpips, niqe, ma, pi`` whose weight files exist is
scored and one line names the others; NIQE finds the official parameters shipped next to the data
(``<root>/metrics/niqe/modelparameters.mat``). A missing set or a missing weight file of a named metric stops with
one line that names the sets found under ``root`` and the ``sets=`` / ``folders=`` to pass.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import hydra
import torch
import yaml
from omegaconf import DictConfig, ListConfig

from gansr.archs.bicubic import BicubicUpsampler
from gansr.cli import CONF_DIR
from gansr.data.benchmarks import benchmark_dataset
from gansr.data.image_io import DatasetNotFoundError
from gansr.evaluation import evaluate_upscaler, write_table
from gansr.inference import load_generator_file, tiled_upscale
from gansr.metrics.availability import DEFAULT_METRICS, available_metrics
from gansr.utils.weights import MissingWeightError, find_shipped_niqe_params


def run_label(checkpoint: str | Path) -> str:
    """The name of the run a generator file belongs to: ``run_name`` of ``<run>/.hydra/config.yaml`` when it is a
    plain string, else the run folder's name (``<run>/generator.pth`` and ``<run>/checkpoints/iter_N.ckpt`` both
    belong to ``<run>``). The config is read as data (``yaml.safe_load``, nothing resolved)."""
    folder = Path(checkpoint).resolve().parent
    if folder.name == "checkpoints":
        folder = folder.parent
    config = folder / ".hydra" / "config.yaml"
    try:
        run_name = yaml.safe_load(config.read_text()).get("run_name") if config.is_file() else None
    except (yaml.YAMLError, AttributeError, OSError):
        run_name = None
    if isinstance(run_name, str) and run_name and "${" not in run_name:
        return run_name
    return folder.name


def upscaler_specs(cfg: DictConfig) -> list[tuple[str | None, str]]:
    """``(checkpoint or None for bicubic, row label)`` for each up-scaler of ``cfg``: ``checkpoint`` is null, one
    file or a list of files; ``method`` is null, one label (one file) or a list of labels (one per file)."""
    checkpoints = cfg.checkpoint
    if checkpoints is None:
        return [(None, cfg.method or "Bicubic")]
    checkpoints = [str(c) for c in checkpoints] if isinstance(checkpoints, (list, ListConfig)) else [str(checkpoints)]
    methods = cfg.method
    if methods is None:
        labels = [run_label(c) for c in checkpoints]
    else:
        labels = [str(m) for m in methods] if isinstance(methods, (list, ListConfig)) else [str(methods)]
        if len(labels) != len(checkpoints):
            raise SystemExit(f"gansr-eval: error: method= gives {len(labels)} label(s) for {len(checkpoints)} "
                             "checkpoint(s); give one label per checkpoint, e.g. method=[a,b], or leave method out "
                             "(rows are then labelled by run name)")
    duplicated = {label for label in labels if labels.count(label) > 1}
    labels = [f"{label}/{Path(c).stem}" if label in duplicated else label  # two files of one run: by file name
              for label, c in zip(labels, checkpoints)]
    return list(zip(checkpoints, labels))


def build_upscaler(checkpoint: str | None, cfg: DictConfig, device: str) -> torch.nn.Module:
    """The generator of ``checkpoint`` (MATLAB-exact bicubic when None) on ``device``."""
    if checkpoint is None:
        return BicubicUpsampler(scale=cfg.scale).to(device)
    upscaler = load_generator_file(checkpoint, use_ema=cfg.use_ema).to(device)
    if upscaler.scale != cfg.scale:
        raise ValueError(f"{checkpoint} is a x{upscaler.scale} generator but scale={cfg.scale}")
    return upscaler


def present_sets(root: Path) -> list[str]:
    """Folders of ``root`` that hold ``HR/`` (the sets ``sets=`` or ``folders=`` can name)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "HR").is_dir())


def prepared_datasets(cfg: DictConfig) -> list:
    """Every set of ``cfg.sets``, checked before any scoring: a missing one stops with the sets that are there and
    the ``sets=`` / ``folders=`` to pass."""
    datasets = []
    folders = dict(cfg.folders or {})
    for name in cfg.sets:
        dataset = benchmark_dataset(name, cfg.root, scale=cfg.scale, mod=cfg.mod, cache_dir=Path(cfg.paths.cache_dir),
                                    folder=folders.get(name))
        try:
            dataset.prepare()
        except DatasetNotFoundError as err:
            found = present_sets(Path(cfg.root).expanduser())
            usable = [s for s in cfg.sets if s in found or folders.get(s) in found]
            hint = f"sets under {cfg.root}: {', '.join(found) or 'none'}"
            if usable:
                hint += f"; score those with sets=[{','.join(usable)}]"
            subsets = [f for f in found if f.startswith(f"{name}_")]
            if subsets:
                hint += f", or read {name} from {subsets[0]} with folders={{{name}:{subsets[0]}}}"
            raise DatasetNotFoundError(f"{err} ({hint})") from None
        datasets.append(dataset)
    return datasets


def evaluate(cfg: DictConfig) -> list[dict[str, object]]:
    """One row per up-scaler and set: ``{"method", "set", "images", <metric>: mean ...}``; writes
    ``results.{md,csv}``."""
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    specs = upscaler_specs(cfg)
    upscalers = [build_upscaler(checkpoint, cfg, device) for checkpoint, _ in specs]  # every file checked first
    datasets = prepared_datasets(cfg)
    out_dir = Path(cfg.out_dir)
    niqe_params = cfg.niqe_params or find_shipped_niqe_params(cfg.root)
    metric_names = list(cfg.metrics) if cfg.metrics is not None else None
    if metric_names is None:
        metric_names, note = available_metrics(DEFAULT_METRICS, niqe_params_path=niqe_params, search=(cfg.root,))
        if note:
            print(f"gansr-eval: {note}", file=sys.stderr)
    rows = []
    for (_, method), upscaler in zip(specs, upscalers):
        upscale = functools.partial(tiled_upscale, upscaler.eval(), scale=cfg.scale, tile=cfg.tile,
                                    overlap=cfg.tile_overlap)
        for dataset in datasets:
            save_dir = None
            if cfg.save_images:  # <out>/<set>/ for one up-scaler, <out>/<label>/<set>/ for several
                save_dir = out_dir / method / dataset.name if len(specs) > 1 else out_dir / dataset.name
            scores = evaluate_upscaler(upscale, dataset, metric_names, crop_border=cfg.crop_border,
                                       lpips_version=cfg.lpips_version, round_y=cfg.round_y,
                                       niqe_params_path=niqe_params, device=device, save_dir=save_dir)
            rows.append({"method": method, "set": dataset.name, "images": len(dataset), **scores})
    title = f"{specs[0][1]}, x{cfg.scale}" if len(specs) == 1 else f"x{cfg.scale}"
    table = write_table(rows, out_dir / "results.md", out_dir / "results.csv", title=title)
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
    except (DatasetNotFoundError, MissingWeightError) as err:
        raise SystemExit(f"gansr-eval: error: {err}") from None


if __name__ == "__main__":
    main()
