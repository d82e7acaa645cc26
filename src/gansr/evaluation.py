"""Evaluate up-scalers on image sets and write tables: shared by ``gansr-eval``, ``gansr-demo`` and the tables.

An *up-scaler* is any callable ``lr (1,3,h,w) [0,1] -> sr (1,3,s*h,s*w) [0,1]``: a trained generator, an
imported one, or the MATLAB-exact bicubic.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from gansr.data.image_io import write_image
from gansr.metrics import build_metrics, quantize
from gansr.utils.atomic import write_text_atomic

Upscaler = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def evaluate_upscaler(
    upscale: Upscaler,
    dataset: Dataset,
    metric_names: Iterable[str],
    *,
    crop_border: int,
    lpips_version: str = "0.1",
    round_y: bool = False,
    niqe_params_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    save_dir: Path | None = None,
) -> dict[str, float]:
    """Mean of each metric over ``dataset`` (items ``{"lr","hr","name"}``); SR is quantised to uint8 levels first
    (as saved PNGs are, docs/methods.md §2.7). With ``save_dir`` the SR images are written as ``<name>.png``."""
    metrics = {name: m.to(device) for name, m in build_metrics(
        list(metric_names), crop_border=crop_border, lpips_version=lpips_version, round_y=round_y, niqe_params_path=niqe_params_path
    ).items()}
    for index in tqdm(range(len(dataset)), desc=f"eval {getattr(dataset, 'name', '')}", leave=False,
                      disable=None):  # None: no bar when stderr is not a terminal (a log file)
        item = dataset[index]
        lr, hr = item["lr"][None].to(device), item["hr"][None].to(device)
        sr = quantize(upscale(lr).clamp(0, 1))
        for metric in metrics.values():
            metric.update(sr, hr)
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            write_image(save_dir / f"{item['name']}.png", sr[0].cpu())
    return {name: float(metric.compute()) for name, metric in metrics.items()}


def write_table(rows: list[dict[str, object]], markdown_path: Path, csv_path: Path, title: str = "") -> str:
    """Write ``rows`` (same keys each) as a markdown table and a CSV; returns the markdown."""
    columns = list(rows[0])
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(csv_path, table.getvalue())
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"# {title}", ""] if title else []
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row[c]) for c in columns) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    write_text_atomic(markdown_path, text)
    return text
