"""A table of ``experiments/<name>/``: ``runs.yaml`` (rows) and ``reference.csv`` (published cells)."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gansr.utils.errors import GansrError

REPO_DIR = Path(__file__).resolve().parents[3]
EXPERIMENTS_DIR = REPO_DIR / "experiments"
TABLES = ("mask", "fasrgan", "fasrgan_ablation", "srgan")


class MissingInputsError(GansrError, FileNotFoundError):
    """Datasets or weight files needed by a table are missing; the message lists all of them."""


@dataclass
class Row:
    """One table row: a preset with overrides (trained here), released weights evaluated as they are (``released``:
    a :data:`gansr.utils.weights.WEIGHT_FILES` key, converted with ``gansr-convert --arch <arch> [--key <key>]``),
    or a published-only method (``reference_only``)."""

    label: str
    preset: str | None = None
    overrides: list[str] = field(default_factory=list)
    reference_only: bool = False
    note: str = ""
    released: str | None = None
    arch: str | None = None
    key: str | None = None

    @property
    def trains(self) -> bool:
        """Whether the row is trained here (a preset), not evaluated from released weights or only published."""
        return not self.reference_only and self.released is None

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
    smoke_note: str = ""  # said in the header of the smoke-scale results (runs.yaml ``smoke_note``)

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
        smoke_note=str(spec.get("smoke_note", "")),
    )
