"""experiments/<table>/reference.csv transcriptions and a one-row smoke table run (gansr.tables)."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from gansr.tables import TABLES, load_table, read_reference, run_table

DOCS_TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "docs" / "tables"


@pytest.mark.parametrize("name", TABLES)
def test_reference_csv_parses_and_rows_exist(name):
    table = load_table(name)
    labels = {row.label for row in table.rows}
    assert table.reference, name
    assert {label for label, _, _ in table.reference} <= labels


def test_reference_matches_published_cells():
    fasrgan = read_reference(Path("experiments/fasrgan/reference.csv"))
    mask = read_reference(Path("experiments/mask/reference.csv"))
    assert fasrgan[("FASRGAN", "Urban100", "LPIPS")] == 0.0588
    assert fasrgan[("EnhanceNet", "PIRM_val", "PSNR")] == 25.47
    assert mask[("PESR+Mask", "DIV2K_val", "PI")] == 3.24
    assert mask[("ESRGAN", "PIRM", "PI")] == 2.10
    srgan = read_reference(Path("experiments/srgan/reference.csv"))
    assert srgan[("SRGAN-VGG54", "Set5", "PSNR")] == 29.40
    assert srgan[("SRResNet-MSE", "Set14", "SSIM")] == 0.8184
    ablation = read_reference(Path("experiments/fasrgan_ablation/reference.csv"))
    # the ablation's lambda2=0.01 Urban100 column is the main table's FASRGAN column
    for metric in ("PSNR", "SSIM", "PI", "LPIPS"):
        assert ablation[("FASRGAN lambda2=0.01", "Urban100", metric)] == fasrgan[("FASRGAN", "Urban100", metric)]
    assert ablation[("SRGAN", "Set5", "PI")] == fasrgan[("SRGAN", "Set5", "PI")]


def test_reference_matches_shared_docs_csv():
    path = DOCS_TABLES / "mask_table.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    ours = read_reference(Path("experiments/mask/reference.csv"))
    with open(path, newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["method"] == "EDSR" and r["mask"] == "yes")
    assert ours[("EDSR-GAN+Mask", "Urban100", "PI")] == float(row["Urban100_PI"])


def test_smoke_table_one_row(shared_data, tmp_path, monkeypatch):
    import gansr.tables as tables

    train_hr = tmp_path / "T91" / "HR"
    train_hr.mkdir(parents=True)
    for image in sorted((shared_data / "T91" / "HR").iterdir())[:2]:
        shutil.copy(image, train_hr)
    monkeypatch.setattr(tables, "EXPERIMENTS_DIR", tmp_path / "experiments")
    shutil.copytree(Path("experiments/srgan"), tmp_path / "experiments" / "srgan")
    md = run_table("srgan", "smoke", iterations=1, eval_limit=2, data_root=shared_data, train_hr=train_hr,
                   cache_dir=tmp_path / "cache", output_root=tmp_path / "runs", rows=["SRGAN-VGG54"])
    text = md.read_text()
    assert "29.4000" in text  # paper PSNR of SRGAN-VGG54 on Set5
    with open(md.parent / "results.csv", newline="") as f:
        cell = next(r for r in csv.DictReader(f) if r["method"] == "SRGAN-VGG54" and r["dataset"] == "Set5" and r["metric"] == "PSNR")
    assert cell["ours"] and float(cell["difference"]) == pytest.approx(float(cell["ours"]) - 29.40)
    assert "smoke (tiny model, 1 iterations, not comparable)" in text
    assert (md.parent / "perception_distortion.png").stat().st_size > 1000
