"""The ``gansr-train`` console command: stop signals are caught (:mod:`gansr.utils.stop_signals`) before torch,
Lightning and Hydra are imported (seconds), then :func:`gansr.cli.train.main` runs. A SIGTERM, SIGUSR1/2 or Ctrl-C
in that time stops the run before its first iteration, exit 0 (requeued under SLURM), instead of killing it."""
from __future__ import annotations


def main() -> None:
    from gansr.utils.stop_signals import catch_stop_signals

    catch_stop_signals()
    from gansr.cli.train import main as train_main

    train_main()
