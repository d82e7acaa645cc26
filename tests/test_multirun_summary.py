"""The multirun summary (gansr.multirun): each job's overrides and final validation metrics in
multirun/<...>/summary.{csv,md}, printed after the last job; rebuilt from the job folders alone."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from gansr.multirun import main as summary_main
from gansr.multirun import write_summary


def fake_job(sweep, num, overrides, metrics=None):
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (job / "final_metrics.json").write_text(json.dumps({"iteration": 100, "validated_at": 100, "metrics": metrics}))


def test_summary_from_job_folders(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for num, weight in enumerate(["5e-3", "1e-2"]):
        fake_job(sweep, num, ["experiment=esrgan", f"loss.adversarial_weight={weight}"],
                 {"Set5/psnr_y": 28.0 + num, "Set5/ssim_y": 0.8})
    fake_job(sweep, 10, ["experiment=esrgan", "loss.adversarial_weight=2e-2"])  # failed: no final metrics
    text = write_summary(sweep)
    assert "Every job: `experiment=esrgan`" in text
    assert "| 0 | 5e-3 | 28.0000 | 0.8000 | 100 | done |" in text
    assert "| 1 | 1e-2 | 29.0000 | 0.8000 | 100 | done |" in text
    assert text.index("| 1 |") < text.index("| 10 |")  # job order, not text order
    assert "| 10 | 2e-2 |  |  |  | no final_metrics.json (failed or still running) |" in text
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["loss.adversarial_weight"] for r in rows] == ["5e-3", "1e-2", "2e-2"]
    assert rows[1]["Set5/psnr_y"] == "29.0" and rows[2]["status"].startswith("no final_metrics")
    summary_main([str(sweep)])
    assert "| 0 | 5e-3 |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no job folders"):
        summary_main([str(tmp_path)])


@pytest.mark.slow  # two jobs in a subprocess: ~25 s on an idle 2-core machine
def test_two_point_tiny_multirun_writes_and_prints_its_summary(tiny_hr_folder, tmp_path):
    from test_console import tiny_gan_overrides

    overrides = [o for o in tiny_gan_overrides(tiny_hr_folder, tmp_path, iterations=2) if not o.startswith("logger=")]
    result = subprocess.run(
        [sys.executable, "-m", "gansr.cli.train", "-m", *overrides, "loss.adversarial_weight=5e-3,1e-2"],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (summary,) = (tmp_path / "multirun").glob("*/*/summary.md")
    rows = list(csv.DictReader((summary.parent / "summary.csv").open()))
    assert [r["loss.adversarial_weight"] for r in rows] == ["0.005", "0.01"]  # as Hydra writes them
    assert all(float(r["tiny/psnr_y"]) > 0 and r["iteration"] == "2" and r["status"] == "done" for r in rows)
    assert summary.read_text() in result.stdout  # printed after the last job
    assert result.stdout.count("final validation (iteration 2):") == 2  # and each job printed its own
