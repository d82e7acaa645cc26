"""Shared helpers of the benchmarks (``make bench``, ``benchmarks/gpu_check.sh``): device, timing, JSON output."""
from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from gansr.utils.atomic import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GANSR_SHARED_DATA", ROOT.parent / "shared" / "data"))
CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
RESULTS = ROOT / "benchmarks" / "results.json"


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def timed(fn, repeats: int, warmup: int = 1) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def device_name() -> str:
    if CUDA:
        return f"cuda: {torch.cuda.get_device_name()}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def today() -> str:
    return datetime.date.today().isoformat()


def read_json(path: Path) -> dict:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def update_json(path: Path, key: str, value) -> None:
    """Set ``key`` in the JSON file ``path`` (created when missing) and write it at once: a later stage that times
    out leaves every figure measured before it on disk."""
    data = read_json(path)
    data[key] = value
    write_text_atomic(path, json.dumps(data, indent=2))


def merge_iterations(source: Path, target: Path = RESULTS) -> dict:
    """Copy the ``iterations`` entries (per-preset measured seconds per iteration, the schema the GPU-hour estimate
    reads) of ``source`` (e.g. a ``gpu_check.json`` fetched from a GPU machine) into ``target``."""
    entries = read_json(source).get("iterations", {})
    if not entries:
        raise SystemExit(f"{source}: no 'iterations' entries to merge")
    merged = {**read_json(target).get("iterations", {}), **entries}
    update_json(target, "iterations", merged)
    return merged


class IterationTimer(pl.Callback):
    """Per-iteration wall times after a device sync: ``seconds`` from the start to the end of each training batch
    (the step), ``intervals`` from one batch start to the next (the step plus data loading and Lightning's per-batch
    work: what a user sees). With ``path`` both are written there as JSON when training ends (for a ``gansr-train``
    run: ``+callbacks.timer._target_=common.IterationTimer +callbacks.timer.path=...``, benchmarks/ on PYTHONPATH)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.seconds: list[float] = []
        self.intervals: list[float] = []
        self._start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        sync()
        now = time.perf_counter()
        if self._start is not None:
            self.intervals.append(now - self._start)
        self._start = now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        sync()
        self.seconds.append(time.perf_counter() - self._start)

    def on_validation_start(self, trainer, pl_module) -> None:
        self._start = None  # an interval spanning a validation is not an iteration

    def on_train_end(self, trainer, pl_module) -> None:
        if self.path:
            write_text_atomic(self.path, json.dumps({"seconds": self.seconds, "intervals": self.intervals}))
