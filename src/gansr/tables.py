"""Reproduce the papers' tables: ``python -m gansr.tables --table mask --scale smoke|paper [--eval-only]``.

Each table lives in ``experiments/<table>/``: ``runs.yaml`` (rows: label, preset, Hydra overrides, or
``reference_only``), ``reference.csv`` (published cells ``label,dataset,metric,value``) and ``README.md``.

* ``--scale smoke``: every trainable row trains its preset for a few iterations of a tiny network on
  ``<shared data>/T91`` (random-init VGG, csv logger), then is scored on Set5 and the first images of BSD100.
  Numbers are labelled "smoke (tiny model, N iterations, not comparable)".
* ``--scale paper``: prints (``--execute``: runs) one ``gansr-train -m`` multirun per row with the preset's full
  schedule, all rows in one W&B group, outputs in ``outputs/tables/<table>/paper/<row>``; then
  ``--scale paper --eval-only`` scores those generators on the paper's test sets.
* ``--eval-only``: score existing ``generator.pth`` files only.

Outputs: ``experiments/<table>/results.md`` + ``results.csv`` (paper value, ours, difference per cell) and
``perception_distortion.png`` (PSNR vs the first of LPIPS / PI / NIQE that we could compute; paper points hollow,
ours filled). LPIPS / Ma / PI need weight files; when they are missing the column is skipped with a note.
"""
from __future__ import annotations

import argparse
import csv
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from torch.utils.data import Subset

REPO_DIR = Path(__file__).resolve().parents[2]
EXPERIMENTS_DIR = REPO_DIR / "experiments"
TABLES = ("mask", "fasrgan", "fasrgan_ablation", "srgan")
#: paper column name -> gansr metric log name (gansr.metrics.build_metrics); MOS has no metric.
METRICS = {"PSNR": "psnr_y", "SSIM": "ssim_y", "LPIPS": "lpips", "PI": "pi", "NIQE": "niqe"}
#: metrics that need downloaded weight/parameter files (skipped with a note when missing).
WEIGHTED_METRICS = ("lpips", "pi")
#: tiny generator overrides by generator class (as tests/test_experiments.py).
TINY_GENERATOR = {
    "RRDBNet": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"],
    "SRResNet": ["generator.num_feat=8", "generator.num_block=1"],
    "EDSR": ["generator.num_feat=8", "generator.num_block=1"],
}
NIQE_PARAMS = "metrics/niqe/modelparameters.mat"  # under the shared data folder
SMOKE_SETS = ({"dataset": "Set5", "benchmark": "Set5"}, {"dataset": "BSD100", "benchmark": "BSD100"})


class MissingInputsError(FileNotFoundError):
    """Datasets or weight files needed by a table are missing; the message lists all of them."""


@dataclass
class Row:
    """One table row: a preset with overrides, or a published-only method (``reference_only``)."""

    label: str
    preset: str | None = None
    overrides: list[str] = field(default_factory=list)
    reference_only: bool = False
    note: str = ""

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", self.label).strip("_").lower()


@dataclass
class TableSpec:
    """``experiments/<name>/runs.yaml`` and ``reference.csv``."""

    name: str
    title: str
    paper: str
    wandb_group: str
    lpips_version: str
    mod: int | None
    datasets: list[dict]
    rows: list[Row]
    reference: dict[tuple[str, str, str], float]

    @property
    def folder(self) -> Path:
        return EXPERIMENTS_DIR / self.name


def read_reference(path: Path) -> dict[tuple[str, str, str], float]:
    """``reference.csv`` (columns ``label,dataset,metric,value``) -> ``{(label, dataset, metric): value}``."""
    with open(path, newline="") as f:
        return {(r["label"], r["dataset"], r["metric"]): float(r["value"]) for r in csv.DictReader(f)}


def load_table(name: str) -> TableSpec:
    folder = EXPERIMENTS_DIR / name
    if not (folder / "runs.yaml").is_file():
        raise FileNotFoundError(f"{folder / 'runs.yaml'} not found; tables: {', '.join(TABLES)}")
    spec = yaml.safe_load((folder / "runs.yaml").read_text())
    return TableSpec(
        name=name,
        title=spec["title"],
        paper=spec["paper"],
        wandb_group=spec["wandb_group"],
        lpips_version=str(spec.get("lpips_version", "0.1")),
        mod=spec.get("mod"),
        datasets=spec["datasets"],
        rows=[Row(**row) for row in spec["rows"]],
        reference=read_reference(folder / "reference.csv"),
    )


# ----------------------------------------------------------------------------------------------- training


def smoke_overrides(row: Row, iterations: int, train_hr: Path, data_root: Path, cache_dir: Path) -> list[str]:
    """The row's preset and overrides, shrunk to a tiny network trained ``iterations`` steps on ``train_hr``."""
    from gansr.cli import compose_config

    cfg = compose_config([f"experiment={row.preset}", *row.overrides], cache_dir / "compose")
    overrides = [
        f"experiment={row.preset}",
        *row.overrides,
        "data=folder",
        f"data.train.hr_dir={train_hr}",
        f"data.train.lr_cache_dir={cache_dir / 'lr' / train_hr.parent.name / 'X4'}",
        "data.val=[]",
        "data.patch_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        f"paths.shared_data={data_root}",
        f"paths.cache_dir={cache_dir}",
        *TINY_GENERATOR[cfg.generator._target_.rsplit(".", 1)[-1]],
        "discriminator.num_feat=4",
        f"trainer.max_steps={iterations}",
        f"trainer.val_check_interval={iterations}",
        "trainer.enable_progress_bar=false",
        f"callbacks.checkpoint.every_n_iterations={iterations}",
        "logger=csv",
    ]
    if cfg.loss.get("perceptual"):
        overrides.append("loss.perceptual.pretrained=false")
    if cfg.get("sharing"):
        overrides += ["sharing.num_feat=8", "+sharing.num_grow_ch=4"]
    return overrides


def train_smoke(row: Row, run_dir: Path, iterations: int, train_hr: Path, data_root: Path, cache_dir: Path) -> Path:
    """Train one row tiny; returns ``<run_dir>/generator.pth``."""
    from gansr.cli import compose_config
    from gansr.cli.train import train

    train(compose_config(smoke_overrides(row, iterations, train_hr, data_root, cache_dir), run_dir))
    return run_dir / "generator.pth"


def paper_commands(table: TableSpec, output_root: Path) -> list[list[str]]:
    """One ``gansr-train -m`` multirun per trainable row: the preset's full schedule, W&B group per table."""
    return [
        [
            "gansr-train", "-m", f"experiment={row.preset}", *row.overrides,
            "logger=many", f"+wandb_group={table.wandb_group}", f"run_name={row.slug}",
            f"hydra.sweep.dir={output_root}", f"hydra.sweep.subdir={row.slug}",
        ]
        for row in table.rows
        if not row.reference_only
    ]


# --------------------------------------------------------------------------------------------- evaluation


def eval_datasets(table: TableSpec, scale: str, data_root: Path, cache_dir: Path, limit: int | None) -> list:
    """Smoke: Set5 + the first images of BSD100 under the shared data; paper: the table's test sets."""
    from gansr.data.benchmarks import benchmark_dataset

    sets = SMOKE_SETS if scale == "smoke" else table.datasets
    out = []
    for entry in sets:
        ds = benchmark_dataset(entry["benchmark"], data_root, scale=4, mod=table.mod, cache_dir=cache_dir,
                               folder=entry.get("folder"))
        if limit is not None and len(ds) > limit:
            ds, name = Subset(ds, range(limit)), ds.name
            ds.name = name
        ds.table_name = entry["dataset"]
        out.append(ds)
    return out


def check_inputs(table: TableSpec, scale: str, data_root: Path, train_hr: Path | None, generators: dict[str, Path]) -> None:
    """Raise MissingInputsError listing every missing dataset folder, generator file and (paper) VGG19 file."""
    sets = SMOKE_SETS if scale == "smoke" else table.datasets
    missing = [f"{data_root / (s.get('folder') or s['benchmark']) / 'HR'} (test set {s['benchmark']})"
               for s in sets if not any((data_root / (s.get("folder") or s["benchmark"]) / "HR").glob("*"))]
    if train_hr is not None and not any(train_hr.glob("*")):
        missing.append(f"{train_hr} (training images)")
    missing += [f"{path} (generator of row {label!r}; train it first)" for label, path in generators.items() if not path.is_file()]
    if missing:
        raise MissingInputsError("missing for table " + table.name + ":\n  " + "\n  ".join(missing))


def available_metrics(scale: str, lpips_version: str, niqe_params: Path) -> tuple[list[str], list[str]]:
    """Metric names we can compute here, and a note per skipped one (missing weight files)."""
    from gansr.metrics import build_metrics
    from gansr.utils.weights import MissingWeightError

    names, notes = ["psnr_y", "ssim_y"], []
    for name in WEIGHTED_METRICS:
        try:
            build_metrics([name], crop_border=4, lpips_version=lpips_version, niqe_params_path=niqe_params)
            names.append(name)
        except MissingWeightError as err:
            notes.append(f"{name.upper()} skipped: {err}")
    if niqe_params.is_file():
        names.append("niqe")
    else:
        notes.append(f"NIQE skipped: {niqe_params} not found")
    return names, notes


def score_generator(path: Path, datasets: list, metrics: list[str], lpips_version: str, niqe_params: Path,
                    save_root: Path | None = None) -> dict[str, dict[str, float]]:
    """``{table dataset name: {metric: mean}}`` for one generator file (NIQE/PI on the saved SR images)."""
    import torch

    from gansr.evaluation import evaluate_upscaler
    from gansr.inference import load_generator_file
    from gansr.metrics import build_metrics, quantize

    generator = load_generator_file(path)
    fr = [m for m in metrics if m not in ("niqe", "pi")]
    nr = [m for m in metrics if m in ("niqe", "pi")]
    out = {}
    for ds in datasets:
        save_dir = save_root / ds.table_name if save_root is not None else None
        out[ds.table_name] = evaluate_upscaler(generator, ds, fr, crop_border=4, lpips_version=lpips_version, save_dir=save_dir)
        for name, scorer in build_metrics(nr, crop_border=4, niqe_params_path=niqe_params).items():
            try:
                with torch.no_grad():
                    for i in range(len(ds)):
                        scorer.update(quantize(generator(ds[i]["lr"][None]).clamp(0, 1)))
                out[ds.table_name][name] = float(scorer.compute())
            except RuntimeError:  # NIQE is undefined on near-flat images (untrained smoke generators)
                out[ds.table_name][name] = float("nan")
    return out


# ------------------------------------------------------------------------------------------------ results


def result_rows(table: TableSpec, ours: dict[str, dict[str, dict[str, float]]], metrics: list[str],
                ours_label: str) -> list[dict[str, object]]:
    """One row per (method, dataset, metric) that the paper reports or we measured."""
    datasets = [d["dataset"] for d in table.datasets] + [d["dataset"] for d in SMOKE_SETS]
    paper_metrics = [m for (_, _, m) in table.reference]
    columns = list(dict.fromkeys([*paper_metrics, *[k for k, v in METRICS.items() if v in metrics]]))
    rows = []
    for row in table.rows:
        for dataset in dict.fromkeys(datasets):
            for metric in columns:
                paper = table.reference.get((row.label, dataset, metric))
                value = ours.get(row.label, {}).get(dataset, {}).get(METRICS.get(metric, ""))
                value = None if value is None or value != value else value  # NaN: metric undefined here
                if paper is None and value is None:
                    continue
                rows.append({
                    "method": row.label, "dataset": dataset, "metric": metric,
                    "paper": "" if paper is None else paper,
                    "ours": "" if value is None else value,
                    "difference": "" if paper is None or value is None else value - paper,
                    "ours_is": "" if value is None else ours_label,
                    "note": row.note if row.reference_only else "",
                })
    return rows


def write_results(table: TableSpec, rows: list[dict[str, object]], notes: list[str], header: str) -> Path:
    """``results.md`` and ``results.csv`` in the table folder; returns the markdown path."""
    from gansr.evaluation import write_table

    md = table.folder / "results.md"
    text = write_table(rows, md, table.folder / "results.csv", title=table.title)
    lines = [text, "", f"Paper: {table.paper}", "", header, ""] + [f"- {note}" for note in notes]
    md.write_text("\n".join(lines) + "\n")
    return md


def plot_perception_distortion(table: TableSpec, rows: list[dict[str, object]], path: Path) -> Path:
    """PSNR (x) vs the first of LPIPS / PI / NIQE that we measured (y); paper hollow, ours filled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def pairs(source: str, y_metric: str) -> dict[tuple[str, str], list[float]]:
        cells: dict[tuple[str, str], dict[str, float]] = {}
        for r in rows:
            if r[source] != "":
                cells.setdefault((r["method"], r["dataset"]), {})[r["metric"]] = float(r[source])
        return {k: [v["PSNR"], v[y_metric]] for k, v in cells.items() if "PSNR" in v and y_metric in v}

    ours_metrics = {r["metric"] for r in rows if r["ours"] != ""}
    y_metric = next((m for m in ("LPIPS", "PI", "NIQE") if m in ours_metrics), "PI")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    colors = {}
    for source, fill in (("paper", "none"), ("ours", None)):
        for (method, dataset), (x, y) in pairs(source, y_metric).items():
            color = colors.setdefault(method, f"C{len(colors) % 10}")
            ax.scatter(x, y, facecolors=fill or color, edgecolors=color, s=45)
            ax.annotate(f"{method} ({dataset})", (x, y), fontsize=6)
    ax.set_xlabel("PSNR (Y, dB)")
    ax.set_ylabel(f"{y_metric} (lower is better)")
    ax.set_title(f"{table.name}: paper hollow, ours filled", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------ driver


def run_table(table_name: str, scale: str = "smoke", eval_only: bool = False, *, iterations: int = 3,
              eval_limit: int | None = 5, data_root: Path | None = None, train_hr: Path | None = None,
              cache_dir: Path | None = None, output_root: Path | None = None, rows: list[str] | None = None,
              execute: bool = False) -> Path | None:
    """Fill ``experiments/<table>/results.md`` (smoke / eval-only) or print the paper-scale commands.

    ``rows`` restricts the trainable rows by label. Returns the results.md path (None when only printing).
    """
    table = load_table(table_name)
    data_root = Path(data_root or REPO_DIR.parent / "shared" / "data").resolve()
    cache_dir = Path(cache_dir or REPO_DIR / ".cache").resolve()
    output_root = Path(output_root or REPO_DIR / "outputs" / "tables" / table.name / scale).resolve()
    trainable = [r for r in table.rows if not r.reference_only and (rows is None or r.label in rows)]
    if scale == "paper" and not eval_only:
        commands = paper_commands(table, output_root)
        for command in commands:
            print(shlex.join(command))
            if execute:
                subprocess.run(command, check=True, cwd=REPO_DIR)
        return None
    train_hr = None if eval_only else Path(train_hr or data_root / "T91" / "HR")
    generators = {row.label: output_root / row.slug / "generator.pth" for row in trainable}
    check_inputs(table, scale, data_root, train_hr, generators if eval_only else {})
    niqe_params = data_root / NIQE_PARAMS
    metrics, notes = available_metrics(scale, table.lpips_version, niqe_params)
    datasets = eval_datasets(table, scale, data_root, cache_dir, eval_limit if scale == "smoke" else None)
    ours = {}
    for row in trainable:
        if not eval_only:
            train_smoke(row, output_root / row.slug, iterations, train_hr, data_root, cache_dir)
        ours[row.label] = score_generator(generators[row.label], datasets, metrics, table.lpips_version, niqe_params)
    ours_label = f"smoke (tiny model, {iterations} iterations, not comparable)" if scale == "smoke" else "paper schedule"
    header = (f"**ours** = {ours_label}; evaluated on {', '.join(f'{d.table_name} ({len(d)} images)' for d in datasets)}; "
              f"x4, PSNR/SSIM on Y, crop 4, HR mod {table.mod or 4}; difference = ours - paper.")
    notes += [f"{label} / {ds}: NIQE undefined (near-flat SR images), left empty" for label, per in ours.items()
              for ds, values in per.items() if values.get("niqe", 0.0) != values.get("niqe", 0.0)]
    notes += [f"{r.label}: reference only ({r.note})" for r in table.rows if r.reference_only]
    result = result_rows(table, ours, metrics, ours_label)
    md = write_results(table, result, notes, header)
    plot_perception_distortion(table, result, table.folder / "perception_distortion.png")
    return md


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, choices=TABLES)
    parser.add_argument("--scale", choices=("smoke", "paper"), default="smoke")
    parser.add_argument("--eval-only", action="store_true", help="score existing generator.pth files only")
    parser.add_argument("--execute", action="store_true", help="paper scale: run the printed commands")
    parser.add_argument("--iterations", type=int, default=3, help="smoke: training iterations per row")
    parser.add_argument("--eval-limit", type=int, default=5, help="smoke: images per test set")
    parser.add_argument("--data-root", type=Path, help="folder with <Set>/HR (default ../shared/data)")
    parser.add_argument("--train-hr", type=Path, help="smoke training images (default <data-root>/T91/HR)")
    parser.add_argument("--output-root", type=Path, help="run folders (default outputs/tables/<table>/<scale>)")
    parser.add_argument("--rows", nargs="+", help="only these row labels")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        md = run_table(args.table, args.scale, args.eval_only, iterations=args.iterations, eval_limit=args.eval_limit,
                       data_root=args.data_root, train_hr=args.train_hr, output_root=args.output_root, rows=args.rows,
                       execute=args.execute)
    except MissingInputsError as err:
        sys.exit(str(err))
    if md is not None:
        print(f"wrote {md} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
