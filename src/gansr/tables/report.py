"""Score a table's generators on its test sets and write ``results.md`` / ``results.csv``; log them to W&B."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import yaml
from torch.utils.data import Subset

from gansr.tables.spec import MissingInputsError, TableSpec
from gansr.utils.atomic import write_text_atomic

#: paper column name -> gansr metric log name (gansr.metrics.build_metrics); MOS has no metric.
METRICS = {"PSNR": "psnr_y", "SSIM": "ssim_y", "LPIPS": "lpips", "PI": "pi", "NIQE": "niqe"}
#: metrics that need downloaded weight/parameter files (skipped with a note when missing).
WEIGHTED_METRICS = ("lpips", "pi")
NIQE_PARAMS = "metrics/niqe/modelparameters.mat"  # under the shared data folder
#: test sets the shared data folder holds (``../shared/data``; Urban100 and Manga109 as subsets), for smoke runs
SHARED_SETS = {
    "Set5": {"dataset": "Set5", "benchmark": "Set5"},
    "Set14": {"dataset": "Set14", "benchmark": "Set14"},
    "BSD100": {"dataset": "BSD100", "benchmark": "BSD100"},
    "Urban100": {"dataset": "Urban100", "benchmark": "Urban100", "folder": "Urban100_subset"},
    "Manga109": {"dataset": "Manga109", "benchmark": "Manga109", "folder": "Manga109_subset"},
}


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
                with torch.no_grad(), warnings.catch_warnings():
                    # near-flat SR (untrained smoke generators): NIQE's covariance has one block left; its NaN is
                    # said in the table's notes ("NIQE undefined"), torch's warning about it is not repeated
                    warnings.filterwarnings("ignore", message=re.escape(COV_WARNING))
                    for i in range(len(ds)):
                        scorer.update(quantize(generator(ds[i]["lr"][None]).clamp(0, 1)))
                out[ds.table_name][name] = float(scorer.compute())
            except RuntimeError:  # NIQE is undefined on near-flat images (untrained smoke generators)
                out[ds.table_name][name] = float("nan")
    return out


#: torch.cov's warning when NIQE (pyiqa's nancov) is left with at most one block of features
COV_WARNING = ("cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
               "observations.")


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
    write_text_atomic(md, "\n".join(lines) + "\n")
    return md


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
