"""``gansr-eval``: score generator files (or MATLAB-exact bicubic) on benchmark sets and write one table.

    gansr-eval checkpoint=outputs/esrgan/gan/generator.pth sets=[Set5,Set14,BSD100] paths.data_dir=../shared/data
    gansr-eval checkpoint=[outputs/esrgan/a/generator.pth,outputs/esrgan/b/generator.pth] sets=[Set5]   # two rows per set
    gansr-eval sets=[Set5] metrics=[psnr_y,ssim_y]                      # the Bicubic row
    gansr-eval checkpoint=[RealESRGAN_x4plus.pth,outputs/esrgan/run/generator.pth,bicubic] sets=[Set5]  # one table
    gansr-eval checkpoint={Real-ESRGAN:RealESRGAN_x4plus.pth,ours:G.pth} sets=[Set5]    # rows labelled by hand
    gansr-eval root=../shared/data sets=[Urban100] folders={Urban100:Urban100_subset}
    gansr-eval checkpoint=outputs/bd/run/generator.pth scale=3 lr=bd sets=[Set5,Set14,BSD100]   # RDN's BD sets

A checkpoint is a gansr generator file, a run's ``.ckpt``, or a public weight file of any RGB SR architecture
spandrel detects (Real-ESRGAN, SwinIR, official ESRGAN, ...; docs/inference.md); several give one row per
checkpoint and set in one table. Rows are labelled by the run each gansr file belongs to (its ``run_name``), a
public file's name, or "Bicubic"; ``method=`` overrides (one label, or a list with one per file), as does a
``{label: path}`` mapping.

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
from omegaconf import DictConfig, ListConfig

from gansr.archs.bicubic import BicubicUpsampler
from gansr.cli import CONF_DIR
from gansr.cli.errors import report_errors
from gansr.data.benchmarks import benchmark_dataset
from gansr.data.image_io import DatasetNotFoundError
from gansr.evaluation import evaluate_upscaler, write_table
from gansr.inference import load_generator_file, tiled_upscale
from gansr.metrics.availability import DEFAULT_METRICS, available_metrics
from gansr.utils.device import usable_device
from gansr.utils.errors import InvalidValueError
from gansr.utils.interop import ForeignGenerator
from gansr.utils.weights import find_shipped_niqe_params
from gansr.utils.yaml_data import ConfigFileError, read_yaml_data


def run_label(checkpoint: str | Path) -> str:
    """The name of the run a generator file belongs to: ``run_name`` of ``<run>/.hydra/config.yaml`` when it is a
    plain string, else the run folder's name (``<run>/generator.pth`` and ``<run>/checkpoints/iter_N.ckpt`` both
    belong to ``<run>``). The config is read as data (:func:`~gansr.utils.yaml_data.read_yaml_data`)."""
    folder = Path(checkpoint).resolve().parent
    if folder.name == "checkpoints":
        folder = folder.parent
    config = folder / ".hydra" / "config.yaml"
    try:
        document = read_yaml_data(config) if config.is_file() else None
    except (ConfigFileError, OSError):
        document = None
    run_name = document.get("run_name") if isinstance(document, dict) else None
    if isinstance(run_name, str) and run_name and "${" not in run_name:
        return run_name
    return folder.name


def checkpoint_entries(cfg: DictConfig) -> list[tuple[str | None, str | None]]:
    """``[(checkpoint, row label or None)]``: ``checkpoint`` is one path (labelled ``method``), a list of paths
    (labelled by ``method=[...]``, one per path, else by their names; ``bicubic`` for the Bicubic row) or a
    ``{label: path}`` mapping; ``null``: bicubic."""
    value, method = cfg.checkpoint, cfg.method
    if isinstance(value, DictConfig):
        return [(str(path), str(label)) for label, path in value.items()]
    if isinstance(value, ListConfig):
        if method is None:
            return [(str(path), None) for path in value]
        labels = [str(m) for m in method] if isinstance(method, ListConfig) else [str(method)]
        if len(labels) != len(value):
            raise InvalidValueError(f"method= gives {len(labels)} label(s) for {len(value)} checkpoint(s); give one label "
                             "per checkpoint, e.g. method=[a,b], or leave method out (rows are then labelled by run "
                             "name)")
        return [(str(path), label) for path, label in zip(value, labels)]
    return [(value, method)]


def build_upscaler(checkpoint: str | None, label: str | None, cfg: DictConfig, device: str) -> tuple[torch.nn.Module, str]:
    """The up-scaler of one ``checkpoint`` (``None`` or "bicubic": MATLAB-exact bicubic) and its row label:
    ``label``, else "Bicubic", a gansr file's run name (:func:`run_label`), or a public file's name."""
    if checkpoint is None or checkpoint == "bicubic":
        return BicubicUpsampler(scale=cfg.scale).to(device), label or "Bicubic"
    upscaler = load_generator_file(checkpoint, use_ema=cfg.use_ema).to(device)
    if upscaler.scale != cfg.scale:
        raise InvalidValueError(f"{checkpoint} is a x{upscaler.scale} generator but scale={cfg.scale}: pass "
                                f"scale={upscaler.scale}")
    foreign = isinstance(upscaler.generator, ForeignGenerator)
    return upscaler, label or (Path(checkpoint).stem if foreign else run_label(checkpoint))


def unique_labels(entries: list[tuple[str | None, str]]) -> list[str]:
    """Row labels, two files of one run told apart by their file names; still equal labels are an error."""
    labels = [label for _, label in entries]
    duplicated = {label for label in labels if labels.count(label) > 1}
    labels = [f"{label}/{Path(path).stem}" if label in duplicated and path else label for path, label in entries]
    if len(set(labels)) < len(labels):
        raise InvalidValueError(f"two checkpoints would share a row label ({labels}); label them: "
                         "checkpoint={label: path, ...}")
    return labels


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
        dataset.use_lr_kind(cfg.lr)
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
    """One row per up-scaler and set: ``{"method", "set", "images", <metric>: mean ...}``, all in one table;
    writes ``results.{md,csv}``. Every checkpoint and every set is checked before any scoring."""
    check_values(cfg)
    device = str(usable_device(cfg.device, "device="))
    entries = checkpoint_entries(cfg)
    built = [build_upscaler(path, label, cfg, device) for path, label in entries]
    methods = unique_labels([(path, label) for (path, _), (_, label) in zip(entries, built)])
    upscalers = [upscaler for upscaler, _ in built]
    datasets = prepared_datasets(cfg)
    out_dir = Path(cfg.out_dir)
    niqe_params = cfg.niqe_params or find_shipped_niqe_params(cfg.root)
    metric_names = list(cfg.metrics) if cfg.metrics is not None else None
    if metric_names is None:
        metric_names, note = available_metrics(DEFAULT_METRICS, niqe_params_path=niqe_params, search=(cfg.root,))
        if note:
            print(f"gansr-eval: {note}", file=sys.stderr)
    rows = []
    for method, upscaler in zip(methods, upscalers):
        upscale = functools.partial(tiled_upscale, upscaler.eval(), scale=cfg.scale, tile=cfg.tile,
                                    overlap=cfg.tile_overlap)
        for dataset in datasets:
            save_dir = None
            if cfg.save_images:  # <out>/<set>/ for one up-scaler, <out>/<label>/<set>/ for several
                save_dir = out_dir / method / dataset.name if len(methods) > 1 else out_dir / dataset.name
            scores = evaluate_upscaler(upscale, dataset, metric_names, crop_border=cfg.crop_border,
                                       lpips_version=cfg.lpips_version, round_y=cfg.round_y,
                                       niqe_params_path=niqe_params, device=device, save_dir=save_dir)
            rows.append({"method": method, "set": dataset.name, "images": len(dataset), **scores})
    title = f"{', '.join(methods)}, x{cfg.scale}"
    if cfg.lr != "bicubic":
        title += f", {cfg.lr.upper()} LR"
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
@report_errors("gansr-eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
