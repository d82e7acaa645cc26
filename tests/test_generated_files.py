"""Every generated file kept in the repository equals what its command writes today: the GPU-hour estimates
``experiments/<table>/cost.md`` (``make table-<name> ESTIMATE=1``, FLOPs counted on the meta device, no GPU
measurement in benchmarks/results.json). A stale one (e.g. fasrgan's, which lacked the source column, so running
the command left a modified tracked file) fails here; docs cite these files instead of copying their numbers."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def regenerate_cost_md(table: str, tmp_path: Path, monkeypatch) -> str:
    import gansr.tables as tables
    from gansr.tables.spec import load_table

    monkeypatch.setattr(tables.spec, "EXPERIMENTS_DIR", tmp_path)
    shutil.copytree(REPO / "experiments" / table, tmp_path / table)
    (tmp_path / table / "cost.md").unlink()
    _, path = tables.estimate_costs(load_table(table), tables.DEFAULT_THROUGHPUT, cache_dir=tmp_path,
                                    benchmark=tmp_path / "no_gpu_measurement.json")
    return path.read_text()


@pytest.mark.parametrize("table", [
    "srgan",  # ~5 s of CPU
    pytest.param("mask", marks=pytest.mark.slow),  # ~10 s of CPU each: paper-size networks on the meta device
    pytest.param("fasrgan", marks=pytest.mark.slow),
    pytest.param("fasrgan_ablation", marks=pytest.mark.slow),
])
def test_committed_cost_md_is_what_the_estimate_writes(table, tmp_path, monkeypatch):
    committed = (REPO / "experiments" / table / "cost.md").read_text()
    assert regenerate_cost_md(table, tmp_path, monkeypatch) == committed, (
        f"experiments/{table}/cost.md is stale: run `make table-{table.replace('_', '-')} ESTIMATE=1` and commit it")


def test_docs_cite_cost_md_instead_of_copying_gpu_hours():
    """The GPU-hour figures live in cost.md only (docs/tables.md once copied 12.9 / 51.2 / 56.9 where cost.md said
    12.7 / 63.8 / 57.5); README and docs/tables.md point there."""
    import re

    for doc in ("README.md", "docs/tables.md"):
        text = (REPO / doc).read_text()
        assert "cost.md" in text
        assert not re.findall(r"\d GPU-hours|estimated GPU-hours", text), doc
