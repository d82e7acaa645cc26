"""The benchmarks' JSON: per-preset seconds per iteration in the schema the GPU-hour estimate reads
(``iterations``), written as each figure is measured and merged into ``benchmarks/results.json``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import common
import presets

SCHEMA = {"seconds_per_iteration", "setting", "device", "batch_size", "date"}


def test_fastest_setting_of_the_day_is_kept_in_the_iterations_schema():
    iterations = {"esrgan": {"seconds_per_iteration": 0.01, "setting": "compiled bf16", "device": "elsewhere",
                             "batch_size": 16, "date": "2026-01-01"}}
    assert presets.record_iteration(iterations, "esrgan", "eager fp32", 0.2, 16)  # another device and day: replaced
    assert presets.record_iteration(iterations, "esrgan", "eager bf16", 0.1, 16)  # faster today
    assert not presets.record_iteration(iterations, "esrgan", "eager tf32", 0.15, 16)  # slower: kept out
    entry = iterations["esrgan"]
    assert set(entry) == SCHEMA and entry["setting"] == "eager bf16" and entry["seconds_per_iteration"] == 0.1
    assert entry["device"] == common.device_name() and entry["date"] == common.today() and entry["batch_size"] == 16


def test_figures_are_written_as_they_come_and_merged_into_results(tmp_path):
    check, results = tmp_path / "gpu_check.json", tmp_path / "results.json"
    common.update_json(check, "matmul", {"gflops": 1.0})
    common.update_json(check, "iterations", {"fasrgan": {"seconds_per_iteration": 0.3, "setting": "eager bf16",
                                                         "device": "cuda: NVIDIA H200", "batch_size": 16, "date": "2026-12-04"}})
    assert set(json.loads(check.read_text())) == {"matmul", "iterations"}  # the first figure survived the second
    results.write_text(json.dumps({"matmul": {"gflops": 2.0}, "iterations": {"esrgan": {"seconds_per_iteration": 0.2}}}))
    merged = common.merge_iterations(check, results)
    assert set(merged) == {"esrgan", "fasrgan"} and json.loads(results.read_text())["matmul"] == {"gflops": 2.0}
    with pytest.raises(SystemExit, match="no 'iterations'"):
        common.merge_iterations(tmp_path / "missing.json", results)
