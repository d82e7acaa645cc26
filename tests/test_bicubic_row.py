"""The published Bicubic x4 row on Set5 (28.42 dB / 0.8104, ESRGAN suppl. Table 2) through the three commands a
researcher runs: gansr-downscale -> gansr-upscale --generator bicubic -> gansr-score."""
import json

import pytest

from gansr.cli import downscale, score, upscale


def test_set5_bicubic_row_matches_the_published_value(shared_data, tmp_path):
    downscale.main(["--hr", str(shared_data / "Set5" / "HR"), "--out", str(tmp_path / "lr"), "--scale", "4"])
    upscale.main(["--input", str(tmp_path / "lr"), "--output", str(tmp_path / "sr"), "--scale", "4", "--generator", "bicubic"])
    out = tmp_path / "scores.json"
    score.main(["--sr", str(tmp_path / "sr"), "--hr", str(shared_data / "Set5" / "HR"), "--scale", "4",
                "--metrics", "psnr_y,ssim_y", "--round-y", "--out", str(out)])
    means = json.loads(out.read_text())["metrics"]
    assert round(means["psnr_y"], 2) == pytest.approx(28.42)
    assert means["ssim_y"] == pytest.approx(0.8104, abs=5e-4)
    # the unrounded-Y convention (BasicSR, FASRGAN) gives a slightly different value: the switch matters
    score.main(["--sr", str(tmp_path / "sr"), "--hr", str(shared_data / "Set5" / "HR"), "--scale", "4",
                "--metrics", "psnr_y", "--out", str(out)])
    assert json.loads(out.read_text())["metrics"]["psnr_y"] == pytest.approx(28.4305, abs=1e-3)
