"""Paper-scale plan of a table: the PSNR pre-training stages its rows start from, then the rows, as
``gansr-train -m`` commands."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from gansr.tables.spec import REPO_DIR, Row, TableSpec


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


def run_folders(rows: list[Row]) -> dict[str, str]:
    """Row label -> the run folder (a row's ``slug``) that trains its configuration. Rows with the same preset and
    overrides share the first such row's run: the FASRGAN ablation's "FASRGAN" and "lambda2=0.01" rows are one
    configuration (the preset's attention weight is the paper's 0.01), trained once and reported twice."""
    first: dict[tuple[str | None, tuple[str, ...]], str] = {}
    return {row.label: first.setdefault((row.preset, tuple(row.overrides)), row.slug) for row in rows}


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
    that stage's run; rows of one configuration share one run (:func:`run_folders`). ``rows`` restricts the rows by label."""
    trainable = [r for r in table.rows if r.trains and (rows is None or r.label in rows)]
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
    folders = run_folders(trainable)
    row_runs = [PaperRun(row.slug, " = ".join(r.label for r in trainable if folders[r.label] == row.slug), row.preset,
                         row.overrides, init_from=last_stage[row.label])
                for row in trainable if row.slug not in stage_names and folders[row.label] == row.slug]
    return [*stages.values(), *row_runs]


#: ``trainer.precision`` of a table's paper-scale runs: the papers' arithmetic (fp32; on Ampere+ GPUs with TF32
#: convolutions, cuDNN's default, and TF32 matmuls, ``speed=gpu``'s ``float32_matmul_precision: high``), unless
#: bf16 is asked for (``python -m gansr.tables --precision bf16-mixed``) until a GPU comparison
#: (benchmarks/gpu_check.sh stage ``precision``) shows equal curves. docs/tables.md.
TABLE_PRECISION = "32-true"
PRECISIONS = ("32-true", "bf16-mixed")


def paper_commands(table: TableSpec, output_root: Path, rows: list[str] | None = None,
                   precision: str = TABLE_PRECISION) -> list[list[str]]:
    """:func:`paper_runs` (``rows``: only these row labels and their stages) as ``gansr-train -m`` commands, to run
    in order, each from the run before it (``module.generator_init=<output_root>/<init_from>/checkpoints/last.ckpt``).

    Every command runs the preset's full schedule on one GPU in ``precision`` (default fp32 + TF32, the papers'
    arithmetic: :data:`TABLE_PRECISION`), logs to CSV + W&B in the table's W&B group
    (``+wandb_group`` feeds ``conf/logger/wandb.yaml``'s ``group``) with ``job_type=train`` (the table's
    plot/results run has ``job_type=table``) and writes its run folder to ``<output_root>/<name>``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: a table runs in one of {', '.join(PRECISIONS)}")
    return [
        ["gansr-train", "-m", *run.hydra_overrides,
         *([f"module.generator_init={output_root / run.init_from / 'checkpoints' / 'last.ckpt'}"] if run.init_from else []),
         "trainer=gpu", f"trainer.precision={precision}", "logger=many", f"+wandb_group={table.wandb_group}",
         "+logger.wandb.job_type=train",
         f"run_name={run.name}", f"hydra.sweep.dir={output_root}", f"hydra.sweep.subdir={run.name}"]
        for run in paper_runs(table, rows)
    ]
