"""Reproduce the papers' tables: ``python -m gansr.tables --table mask --scale smoke|paper [--eval-only]``.

Each table lives in ``experiments/<table>/``: ``runs.yaml`` (rows: label, preset, Hydra overrides, or
``reference_only``), ``reference.csv`` (published cells ``label,dataset,metric,value``) and ``README.md``.

* ``--scale smoke``: every trainable row trains its preset for a few iterations of a tiny network on
  ``<shared data>/T91`` (random-init VGG, csv logger), then is scored on the first images of Set5 and of one
  more of the table's sets (:func:`smoke_sets`). Numbers are labelled "smoke (tiny model, N iterations, not
  comparable)".
* ``--scale paper``: prints (``--execute``: runs) the PSNR pre-training stages the rows start from (each preset's
  ``pretrain``), then one ``gansr-train -m`` multirun per row from its stage's checkpoint, with the preset's full
  schedule, all in one W&B group, outputs in ``outputs/tables/<table>/paper/<row>``; then
  ``--scale paper --eval-only`` scores those generators on the paper's test sets.
* ``--eval-only``: score existing ``generator.pth`` files only.
* ``--estimate``: GPU-hours of the paper schedule per row and per PSNR pre-training stage, from
  FLOPs counted on the meta device (torch.utils.flop_counter) and an *assumed* throughput (``--throughput``);
  writes ``experiments/<table>/cost.md``. Not measured on a GPU.
* ``--wandb`` (default on for ``--scale paper``, off for smoke): log the plot (wandb.Image) and the results
  (wandb.Table) to a W&B run in the table's ``wandb_group`` with ``job_type=table`` (offline without credentials).

Outputs: ``experiments/<table>/results.md`` + ``results.csv`` (paper value, ours, difference per cell) and
``perception_distortion.png`` (a PSNR vs LPIPS / PI / NIQE panel per metric with a PSNR pair in the paper or ours,
and a dot chart per method of a no-reference metric the paper reports without PSNR, as the mask table's PI; paper
points hollow, ours filled, one colour + marker per method). LPIPS / Ma / PI need weight files; when they are
missing the column is skipped with a note.
"""
from __future__ import annotations

import argparse
import csv
import functools
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
#: test sets the shared data folder holds (``../shared/data``; Urban100 and Manga109 as subsets), for smoke runs
SHARED_SETS = {
    "Set5": {"dataset": "Set5", "benchmark": "Set5"},
    "Set14": {"dataset": "Set14", "benchmark": "Set14"},
    "BSD100": {"dataset": "BSD100", "benchmark": "BSD100"},
    "Urban100": {"dataset": "Urban100", "benchmark": "Urban100", "folder": "Urban100_subset"},
    "Manga109": {"dataset": "Manga109", "benchmark": "Manga109", "folder": "Manga109_subset"},
}


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


@dataclass
class PaperRun:
    """One paper-scale training run of a table: a PSNR pre-training stage or a row."""

    name: str  # its run folder under the table's output root
    label: str  # the row's label and/or "PSNR pre-training for <users>"
    preset: str
    overrides: list[str] = field(default_factory=list)
    max_steps: int | None = None  # a stage's own schedule length (``pretrain.max_steps``), else the preset's
    init_from: str | None = None  # the run whose ``checkpoints/last.ckpt`` it starts from

    @property
    def hydra_overrides(self) -> list[str]:
        return [f"experiment={self.preset}", *self.overrides,
                *([f"trainer.max_steps={self.max_steps}"] if self.max_steps else [])]


def paper_runs(table: TableSpec, rows: list[str] | None = None) -> list[PaperRun]:
    """The runs that reproduce ``table`` at paper scale, in order: each PSNR stage the rows start from
    (:func:`pretrain_chain`; once per table, chained where a stage starts from another), then the rows, each
    from its last stage. A row that is itself a stage (same preset, no overrides: SRGAN's SRResNet-MSE) is
    that stage's run. ``rows`` restricts the rows by label."""
    trainable = [r for r in table.rows if not r.reference_only and (rows is None or r.label in rows)]
    as_stage = {(r.preset, None): r for r in trainable if not r.overrides}
    stages: dict[tuple[str, int | None], PaperRun] = {}
    users: dict[tuple[str, int | None], list[str]] = {}
    last_stage: dict[str, str | None] = {}
    for row in trainable:
        previous = None
        chain = pretrain_chain(row.preset)
        for stage, user in zip(chain, [preset for preset, _ in chain[1:]] + [row.label]):
            if stage not in stages:
                preset, steps = stage
                same = as_stage.get(stage)
                name = same.slug if same else f"pretrain_{preset}" + (f"_{steps}" if steps else "")
                stages[stage] = PaperRun(name, same.label if same else "", preset, [], steps, previous)
            if user not in users.setdefault(stage, []):
                users[stage].append(user)
            previous = stages[stage].name
        last_stage[row.label] = previous
    for stage, run in stages.items():
        purpose = f"PSNR pre-training for {', '.join(users[stage])}"
        run.label = f"{run.label} (also {purpose})" if run.label else purpose
    stage_names = {run.name for run in stages.values()}
    row_runs = [PaperRun(row.slug, row.label, row.preset, row.overrides, init_from=last_stage[row.label])
                for row in trainable if row.slug not in stage_names]
    return [*stages.values(), *row_runs]


def paper_commands(table: TableSpec, output_root: Path) -> list[list[str]]:
    """:func:`paper_runs` as ``gansr-train -m`` commands, to run in order, each from the run before it
    (``module.generator_init=<output_root>/<init_from>/checkpoints/last.ckpt``).

    Every command runs the preset's full schedule on one GPU (bf16), logs to CSV + W&B in the table's W&B group
    (``+wandb_group`` feeds ``conf/logger/wandb.yaml``'s ``group``) with ``job_type=train`` (the table's
    plot/results run has ``job_type=table``) and writes its run folder to ``<output_root>/<name>``.
    """
    return [
        ["gansr-train", "-m", *run.hydra_overrides,
         *([f"module.generator_init={output_root / run.init_from / 'checkpoints' / 'last.ckpt'}"] if run.init_from else []),
         "trainer=gpu", "logger=many", f"+wandb_group={table.wandb_group}", "+logger.wandb.job_type=train",
         f"run_name={run.name}", f"hydra.sweep.dir={output_root}", f"hydra.sweep.subdir={run.name}"]
        for run in paper_runs(table)
    ]


# --------------------------------------------------------------------------------------------- evaluation


def smoke_sets(table: TableSpec) -> list[dict]:
    """Set5 and the table's first other test set that the shared data holds (else BSD100): SRGAN -> Set14,
    FASRGAN and the mask table -> Urban100 (subset)."""
    other = next((SHARED_SETS[d["dataset"]] for d in table.datasets
                  if d["dataset"] != "Set5" and d["dataset"] in SHARED_SETS), SHARED_SETS["BSD100"])
    return [SHARED_SETS["Set5"], other]


def evaluation_sets(table: TableSpec, scale: str) -> list[dict]:
    """The test sets a run of ``scale`` evaluates: :func:`smoke_sets` or the table's own."""
    return smoke_sets(table) if scale == "smoke" else table.datasets


def eval_datasets(table: TableSpec, scale: str, data_root: Path, cache_dir: Path, limit: int | None) -> list:
    """The first ``limit`` images of each of :func:`evaluation_sets` under ``data_root``."""
    from gansr.data.benchmarks import benchmark_dataset

    sets = evaluation_sets(table, scale)
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
    sets = evaluation_sets(table, scale)
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
    datasets = [d["dataset"] for d in table.datasets] + [d["dataset"] for d in smoke_sets(table)]
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


NO_REFERENCE = ("LPIPS", "PI", "NIQE")  # no-reference / perceptual axes of the perception-distortion plane
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def perception_distortion_figure(table: TableSpec, rows: list[dict[str, object]]):
    """The figure of :func:`plot_perception_distortion`. Panels, paper hollow and ours filled, one colour and marker
    per method (figure legend):

    * one PSNR (x) vs LPIPS / PI / NIQE (y) panel per metric that has a (PSNR, metric) pair in the paper or in ours;
    * a dot chart per method of each no-reference metric the paper reports without PSNR (the mask table's PI); when
      the paper reports no no-reference metric at all (SRGAN's table), a dot chart of its PSNR.

    Collections are labelled ``"<method> (paper|ours)"``.
    """
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def cells(source: str) -> dict[tuple[str, str], dict[str, float]]:
        out: dict[tuple[str, str], dict[str, float]] = {}
        for r in rows:
            if r[source] != "":
                out.setdefault((r["method"], r["dataset"]), {})[r["metric"]] = float(r[source])
        return out

    paper, ours = cells("paper"), cells("ours")
    sources = (("paper", paper, "none"), ("ours", ours, None))
    scatter_metrics = [m for m in NO_REFERENCE if any("PSNR" in v and m in v for c in (paper, ours) for v in c.values())]
    unpaired = [m for v in paper.values() if "PSNR" not in v for m in NO_REFERENCE if m in v]
    dot_metrics = list(dict.fromkeys(unpaired))
    if not any(m in v for v in paper.values() for m in NO_REFERENCE) and any("PSNR" in v for v in paper.values()):
        dot_metrics.append("PSNR")  # the paper reports distortion only: compare PSNR per method
    panels = [("plane", m) for m in scatter_metrics] + [("dots", m) for m in dot_metrics] or [("plane", "PI")]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    style = {m: (f"C{i % 10}", MARKERS[i % len(MARKERS)]) for i, m in enumerate(methods)}
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.6 * nrows + 0.9), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.remove()
    for ax, (kind, metric) in zip(axes.flat, panels):
        for source, values, fill in sources:
            for i, method in enumerate(methods):
                color, marker = style[method]
                if kind == "plane":
                    points = [(d, v["PSNR"], v[metric]) for (m, d), v in values.items()
                              if m == method and "PSNR" in v and metric in v]
                else:
                    shift = -0.12 if source == "paper" else 0.12
                    points = [(d, v[metric], i + shift) for (m, d), v in values.items() if m == method and metric in v]
                if not points:
                    continue
                ax.scatter([p[1] for p in points], [p[2] for p in points], facecolors=fill or color, edgecolors=color,
                           marker=marker, s=42, linewidths=1.2, label=f"{method} ({source})")
                for dataset, x, y in points:
                    ax.annotate(dataset, (x, y), fontsize=5, xytext=(3, 2), textcoords="offset points", color=color)
        lower = "higher" if metric == "PSNR" else "lower"
        if kind == "plane":
            ax.set_xlabel("PSNR (Y, dB; higher is better)")
            ax.set_ylabel(f"{metric} (lower is better)")
            ax.set_title(f"PSNR vs {metric}", fontsize=9)
            if not ax.collections:
                ax.text(0.5, 0.5, f"no cell with PSNR and {metric}", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8)
        else:
            ax.set_yticks(range(len(methods)), methods, fontsize=7)
            ax.set_ylim(len(methods) - 0.5, -0.5)
            ax.set_xlabel(f"{metric} ({lower} is better)")
            why = "the paper reports it without PSNR" if metric != "PSNR" else "the paper reports no perceptual metric"
            ax.set_title(f"{metric} per method ({why})", fontsize=9)
    ours_is = next((str(r["ours_is"]) for r in rows if r.get("ours_is")), "")
    fig.suptitle(f"{table.title}: paper hollow, ours filled" + (f"\nours = {ours_is}" if ours_is else ""), fontsize=9)
    handles = [Line2D([], [], marker=style[m][1], ls="", color=style[m][0], label=m) for m in methods]
    handles += [Line2D([], [], marker="o", ls="", mfc="none", mec="gray", label="paper (hollow)"),
                Line2D([], [], marker="o", ls="", color="gray", label="ours (filled)")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7, frameon=False)
    legend_rows = math.ceil(len(handles) / min(len(handles), 6))
    fig.tight_layout(rect=(0, 0.035 * legend_rows / nrows + 0.02, 1, 1))
    return fig


def plot_perception_distortion(table: TableSpec, rows: list[dict[str, object]], path: Path) -> Path:
    """PSNR vs LPIPS / PI / NIQE panels and dot charts of paper-only metrics (:func:`perception_distortion_figure`)."""
    import matplotlib.pyplot as plt

    fig = perception_distortion_figure(table, rows)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------- W&B


def wandb_project() -> str:
    """The project of ``conf/logger/wandb.yaml`` (the training runs' project)."""
    from gansr.cli import CONF_DIR

    return yaml.safe_load((CONF_DIR / "logger" / "wandb.yaml").read_text())["wandb"]["project"]


def log_to_wandb(table: TableSpec, rows: list[dict[str, object]], png: Path, scale: str, run_dir: Path) -> Path | None:
    """Log the plot (wandb.Image) and the results (wandb.Table) to a run in the table's W&B group (job_type
    ``table``), offline when no credentials are configured (as gansr-train). Returns the run folder."""
    import os

    import wandb

    from gansr.cli.train import use_offline_wandb_without_credentials

    use_offline_wandb_without_credentials({"logger": {"wandb": {}}})
    columns = ["method", "dataset", "metric", "paper", "ours", "difference", "ours_is", "note"]
    data = [[None if r[c] == "" else r[c] for c in columns] for r in rows]
    run_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=wandb_project(), group=table.wandb_group, job_type="table", name=f"{table.name}-{scale}",
                     config={"table": table.name, "scale": scale, "paper": table.paper},
                     dir=None if os.environ.get("WANDB_DIR") else str(run_dir))
    try:
        run.log({"perception_distortion": wandb.Image(str(png)), "results": wandb.Table(columns=columns, data=data)})
        folder = Path(run.dir).parent
    finally:
        run.finish()
    print(f"[gansr] W&B run {run.name} (group {table.wandb_group}): {folder}")
    return folder


# ------------------------------------------------------------------------------------------ cost estimate

#: assumed sustained training throughput (FLOP/s): H100/H200 bf16, ~15-20 % of dense peak. An assumption.
DEFAULT_THROUGHPUT = 150e12


@functools.lru_cache(maxsize=None)
def pretrain_stage(preset: str) -> tuple[str, int | None] | None:
    """The PSNR stage ``preset`` starts from: its config's ``pretrain`` value (``conf/train.yaml``) as
    ``(preset, max_steps)``, e.g. ``("esrgan_psnr", 10000)`` for ``esrgan_mask``; None when it names none.
    Cached: a table asks for the same presets once per row and per chained stage."""
    from gansr.cli import compose_config

    stage = compose_config([f"experiment={preset}"], REPO_DIR / ".cache" / "compose").get("pretrain")
    return None if stage is None else (str(stage.preset), stage.get("max_steps"))


def pretrain_chain(preset: str) -> list[tuple[str, int | None]]:
    """The PSNR stages a preset starts from, first stage first: ``edsr_gan`` -> ``[(edsr_psnr_x2, None),
    (edsr_psnr, None)]``, ``esrgan_mask`` -> ``[(esrgan_psnr, 10000)]``; empty when it names none."""
    chain: list[tuple[str, int | None]] = []
    stage = pretrain_stage(preset)
    while stage is not None and stage not in chain:
        chain.insert(0, stage)
        stage = pretrain_stage(stage[0])
    return chain


def iteration_flops(cfg, batch_size: int | None = None) -> int:
    """FLOPs (torch.utils.flop_counter) of one training iteration of ``instantiate(cfg.module)`` on a batch of
    ``cfg.data`` size: G forward, losses, D steps and backward passes as the module's ``training_step`` runs them
    (frozen parts get no weight gradients). On the meta device nothing is computed; optimizer updates not counted."""
    import torch
    from hydra.utils import instantiate
    from torch.utils.flop_counter import FlopCounterMode

    batch = batch_size or int(cfg.data.batch_size)
    hr_size = int(cfg.data.patch_size)
    with torch.device("meta"):
        module = instantiate(cfg.module)
        data = {"lr": torch.rand(batch, 3, hr_size // cfg.scale, hr_size // cfg.scale), "hr": torch.rand(batch, 3, hr_size, hr_size)}
    module.train()
    trainable = {id(p): p.requires_grad for p in module.parameters()}

    class _Optimizer:
        def __init__(self, params):
            self.param_groups = [{"params": list(params)}]

        def zero_grad(self, set_to_none: bool = True) -> None:
            pass

    def toggle(optimizer) -> None:
        owned = {id(p) for p in optimizer.param_groups[0]["params"]}
        for p in module.parameters():
            p.requires_grad_(trainable[id(p)] and id(p) in owned)

    def untoggle(optimizer=None) -> None:
        for p in module.parameters():
            p.requires_grad_(trainable[id(p)])

    def step(optimizer, terms, parameters, prefix) -> None:
        torch.stack(list(terms.values())).sum().backward()

    if hasattr(module, "discriminator_parameters"):
        optimizers = (_Optimizer(module.generator_parameters()), _Optimizer(module.discriminator_parameters()))
    else:
        optimizers = _Optimizer(module.generator_parameters())
    stubs = {"optimizers": lambda *a, **k: optimizers, "toggle_optimizer": toggle, "untoggle_optimizer": untoggle,
             "step_optimizer": step, "finish_iteration": lambda: None, "log": lambda *a, **k: None,
             "log_dict": lambda *a, **k: None}
    for name, fn in stubs.items():
        object.__setattr__(module, name, fn)
    with FlopCounterMode(display=False) as counter:
        module.training_step(data, 0)
    return int(counter.get_total_flops())


def gpu_hours(flops_per_iteration: float, iterations: int, throughput: float = DEFAULT_THROUGHPUT) -> float:
    """Estimated GPU-hours: counted FLOPs x iterations / assumed sustained FLOP/s."""
    return flops_per_iteration * iterations / throughput / 3600.0


def estimate_costs(table: TableSpec, throughput: float = DEFAULT_THROUGHPUT, rows: list[str] | None = None,
                   cache_dir: Path | None = None) -> tuple[list[dict[str, object]], Path]:
    """One entry per :func:`paper_runs` run (the rows and their PSNR pre-training stages); writes ``cost.md``."""
    from gansr.cli import compose_config

    compose_dir = Path(cache_dir or REPO_DIR / ".cache") / "compose"
    out = []
    for run in paper_runs(table, rows):
        cfg = compose_config(run.hydra_overrides, compose_dir)
        if cfg.get("loss") is not None and cfg.loss.get("perceptual"):
            cfg.loss.perceptual.pretrained = False  # FLOPs only: the VGG19 weights file is not needed
        flops = iteration_flops(cfg)
        iterations = int(cfg.trainer.max_steps)
        out.append({"row": run.label, "preset": run.preset + (f" (trainer.max_steps={run.max_steps})" if run.max_steps else ""),
                    "iterations": iterations, "batch": int(cfg.data.batch_size), "patch": int(cfg.data.patch_size),
                    "tflop_per_iteration": flops / 1e12, "gpu_hours": gpu_hours(flops, iterations, throughput)})
    total = sum(e["gpu_hours"] for e in out)
    label = ("estimate from counted FLOPs and an assumed throughput, not measured on a GPU: "
             f"FLOPs of one training iteration counted with torch.utils.flop_counter on the meta device "
             f"(forward + backward of G, D and the VGG loss; optimizer updates, data loading and validation not counted), "
             f"x iterations / {throughput / 1e12:g} TFLOP/s assumed sustained (e.g. H100/H200 bf16)")
    lines = [f"# GPU-hour estimate: {table.title}", "", f"**{label}**", "",
             "| row | preset | iterations | batch | patch (HR) | TFLOP/iteration | estimated GPU-hours |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {e['row']} | {e['preset']} | {e['iterations']:,} | {e['batch']} | {e['patch']} | "
              f"{e['tflop_per_iteration']:.2f} | {e['gpu_hours']:.2f} |" for e in out]
    lines += [f"| **total** | | | | | | **{total:.1f}** |", "",
              (f"Written by `python -m gansr.tables --table {table.name} --estimate --throughput {throughput:g}`. "
               "Pre-training stages are the presets' `pretrain` values (counted once per table, as "
               "`python -m gansr.tables --scale paper` runs them); rows without one train from scratch.")]
    path = table.folder / "cost.md"
    path.write_text("\n".join(lines) + "\n")
    return out, path


# ------------------------------------------------------------------------------------------------ driver


def run_table(table_name: str, scale: str = "smoke", eval_only: bool = False, *, iterations: int = 3,
              eval_limit: int | None = 5, data_root: Path | None = None, train_hr: Path | None = None,
              cache_dir: Path | None = None, output_root: Path | None = None, rows: list[str] | None = None,
              execute: bool = False, wandb: bool | None = None) -> Path | None:
    """Fill ``experiments/<table>/results.md`` (smoke / eval-only) or print the paper-scale commands.

    ``rows`` restricts the trainable rows by label; ``wandb`` (default: paper scale only) logs plot and results to
    W&B. Returns the results.md path (None when only printing).
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
    png = plot_perception_distortion(table, result, table.folder / "perception_distortion.png")
    if scale == "paper" if wandb is None else wandb:
        log_to_wandb(table, result, png, scale, output_root)
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
    parser.add_argument("--wandb", action=argparse.BooleanOptionalAction, default=None,
                        help="log plot + results to W&B (group = the table's wandb_group; default: on for paper scale)")
    parser.add_argument("--estimate", action="store_true",
                        help="print + write cost.md: GPU-hours of the paper schedule from counted FLOPs (no training)")
    parser.add_argument("--throughput", type=float, default=DEFAULT_THROUGHPUT,
                        help="--estimate: ASSUMED sustained FLOP/s per GPU (default 150e12, H100/H200 bf16)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.estimate:
        _, path = estimate_costs(load_table(args.table), args.throughput, rows=args.rows)
        print(path.read_text())
        print(f"wrote {path} ({time.perf_counter() - start:.0f} s)")
        return
    try:
        md = run_table(args.table, args.scale, args.eval_only, iterations=args.iterations, eval_limit=args.eval_limit,
                       data_root=args.data_root, train_hr=args.train_hr, output_root=args.output_root, rows=args.rows,
                       execute=args.execute, wandb=args.wandb)
    except MissingInputsError as err:
        sys.exit(str(err))
    if md is not None:
        print(f"wrote {md} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
