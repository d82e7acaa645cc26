"""``python -m gansr.tables``: the command line of :mod:`gansr.tables`."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gansr.tables
from gansr.tables.estimate import DEFAULT_THROUGHPUT, estimate_costs
from gansr.tables.plan import PRECISIONS, TABLE_PRECISION
from gansr.tables.run import run_table
from gansr.tables.spec import TABLES, MissingInputsError, load_table
from gansr.training.preemption import StoppedBySignal
from gansr.utils.console_streams import guard_console_streams


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gansr.tables", description=gansr.tables.__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, choices=TABLES)
    parser.add_argument("--scale", choices=("smoke", "paper"), default="smoke")
    parser.add_argument("--eval-only", action="store_true", help="score existing generator.pth files only")
    parser.add_argument("--execute", action="store_true", help="paper scale: run the printed commands (--slurm: queue them)")
    parser.add_argument("--slurm", action="store_true",
                        help="paper scale: hydra/launcher=submitit_slurm; with --execute, stages first and each row "
                             "after its stage (--dependency=afterok), see docs/slurm.md")
    parser.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE",
                        help="paper scale: Hydra overrides added to every command (e.g. hydra.launcher.partition=gpu)")
    parser.add_argument("--precision", choices=PRECISIONS, default=TABLE_PRECISION,
                        help="paper scale: trainer.precision of every run (default 32-true with TF32, the papers' "
                             "arithmetic; bf16-mixed is the faster opt-in, docs/tables.md)")
    parser.add_argument("--iterations", type=int, default=3, help="smoke: training iterations per row")
    parser.add_argument("--eval-limit", type=int, default=5, help="smoke: images per test set")
    parser.add_argument("--data-root", type=Path, help="folder with <Set>/HR (default ../shared/data)")
    parser.add_argument("--train-hr", type=Path, help="smoke training images (default <data-root>/T91/HR)")
    parser.add_argument("--output-root", type=Path, help="run folders (default outputs/tables/<table>/<scale>)")
    parser.add_argument("--rows", nargs="+", help="only these row labels")
    parser.add_argument("--wandb", action=argparse.BooleanOptionalAction, default=None,
                        help="log plot + results to W&B (group = the table's wandb_group; default: on for paper scale)")
    parser.add_argument("--estimate", action="store_true",
                        help="print + write cost.md: GPU-hours of the paper schedule from the s/iteration measured by the GPU "
                             "benchmark (benchmarks/results.json) where present, else counted FLOPs (no training)")
    parser.add_argument("--throughput", type=float, default=DEFAULT_THROUGHPUT,
                        help="--estimate: ASSUMED sustained FLOP/s per GPU for presets not measured (default 150e12)")
    args = parser.parse_args(argv)
    guard_console_streams()  # `| tee` and Ctrl-C: a stopped row still saves (docs/reliability.md)
    start = time.perf_counter()
    if args.estimate:
        _, path = estimate_costs(load_table(args.table), args.throughput, rows=args.rows)
        print(path.read_text())
        print(f"wrote {path} ({time.perf_counter() - start:.0f} s)")
        return
    try:
        md = run_table(args.table, args.scale, args.eval_only, iterations=args.iterations, eval_limit=args.eval_limit,
                       data_root=args.data_root, train_hr=args.train_hr, output_root=args.output_root, rows=args.rows,
                       execute=args.execute, wandb=args.wandb, slurm=args.slurm, overrides=args.override,
                       precision=args.precision)
    except MissingInputsError as err:
        sys.exit(str(err))
    except StoppedBySignal as stopped:
        print(stopped, flush=True)
        sys.exit(stopped.exit_code)
    if md is not None:
        print(f"wrote {md} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
