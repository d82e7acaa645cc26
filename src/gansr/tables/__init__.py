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
* ``--estimate``: GPU-hours of the paper schedule per row and per PSNR pre-training stage, from the seconds per
  iteration the GPU benchmark measured per preset (``benchmarks/results.json``) where present, else from FLOPs
  counted on the meta device (torch.utils.flop_counter) and an *assumed* throughput (``--throughput``); writes
  ``experiments/<table>/cost.md``, which says per row which one it used.
* ``--slurm`` (paper scale): ``hydra/launcher=submitit_slurm``; with ``--execute`` the stages and rows are queued,
  each after the run it starts from (``afterok``); ``--override`` adds Hydra overrides (docs/slurm.md).
* ``--wandb`` (default on for ``--scale paper``, off for smoke): log the plot (wandb.Image) and the results
  (wandb.Table) to a W&B run in the table's ``wandb_group`` with ``job_type=table`` (offline without credentials).

Outputs: ``experiments/<table>/results.md`` + ``results.csv`` (paper value, ours, difference per cell) and
``perception_distortion.png`` (a PSNR vs LPIPS / PI / NIQE panel per metric with a PSNR pair in the paper or ours,
and a dot chart per method of a no-reference metric the paper reports without PSNR, as the mask table's PI; paper
points hollow, ours filled, one colour + marker per method). LPIPS / Ma / PI need weight files; when they are
missing the column is skipped with a note.

Modules by job: :mod:`~gansr.tables.spec` (runs.yaml / reference.csv), :mod:`~gansr.tables.plan` (paper-scale
stages and rows), :mod:`~gansr.tables.run` (smoke training, running the plan), :mod:`~gansr.tables.report`
(scoring, results.md, W&B), :mod:`~gansr.tables.plot` (figure), :mod:`~gansr.tables.estimate` (GPU-hours),
``__main__`` (command line).
"""
from gansr.tables.estimate import DEFAULT_THROUGHPUT, estimate_costs, gpu_hours, iteration_flops
from gansr.tables.plan import PaperRun, paper_commands, paper_runs, pretrain_chain, pretrain_stage
from gansr.tables.plot import perception_distortion_figure, plot_perception_distortion
from gansr.tables.report import (available_metrics, check_inputs, eval_datasets, evaluation_sets,
                                 log_to_wandb, result_rows, score_generator, smoke_sets, write_results)
from gansr.tables.run import run_table, smoke_overrides, train_smoke
from gansr.tables.spec import EXPERIMENTS_DIR, REPO_DIR, TABLES, MissingInputsError, Row, TableSpec, load_table, read_reference

__all__ = [
    "DEFAULT_THROUGHPUT", "EXPERIMENTS_DIR", "REPO_DIR", "TABLES", "MissingInputsError", "PaperRun", "Row", "TableSpec",
    "available_metrics", "check_inputs", "estimate_costs", "eval_datasets", "evaluation_sets", "gpu_hours",
    "iteration_flops", "load_table", "log_to_wandb", "paper_commands", "paper_runs", "perception_distortion_figure",
    "plot_perception_distortion", "pretrain_chain", "pretrain_stage", "read_reference", "result_rows", "run_table",
    "score_generator", "smoke_overrides", "smoke_sets", "train_smoke", "write_results",
]
