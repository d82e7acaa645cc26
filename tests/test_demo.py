"""``make demo`` (gansr-demo) gives README's table within the tolerance docs/demo.md states (issue 21 item 10).

What is exact and what is not: the MATLAB bicubic row is computed in float64 from fixed images, so it is the same
on every machine. The two trained rows are bit-identical on one machine for a given thread count and torch build,
but float32 convolutions sum in an order that depends on the CPU's instruction set (oneDNN picks AVX2 / AVX-512
kernels) and on the thread count, and 400 iterations of training amplify those last-bit differences. So the
trained rows are checked within a tolerance: 0.15 dB / 0.005 SSIM for the PSNR stage, 0.3 dB / 0.01 for the GAN
stage (docs/demo.md).
"""
from __future__ import annotations

import csv

import pytest

#: README's demo table, measured 2026-12-07 (1 thread, `gansr-demo`, the 2-core development machine)
EXPECTED = {
    "Bicubic (MATLAB)": (29.3835, 0.7857, 1e-4, 1e-4),
    "Tiny RRDBNet (PSNR stage)": (29.9546, 0.8048, 0.15, 0.005),
    "Tiny FASRGAN (GAN stage)": (29.5388, 0.8032, 0.3, 0.01),
}


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_demo_table_matches_readme_within_the_stated_tolerance(demo_run):
    rows = {row["method"]: row for row in csv.DictReader((demo_run / "results.csv").open())}
    assert set(rows) == set(EXPECTED)
    for method, (psnr, ssim, psnr_tol, ssim_tol) in EXPECTED.items():
        assert float(rows[method]["images"]) == 2
        assert float(rows[method]["psnr_y"]) == pytest.approx(psnr, abs=psnr_tol), method
        assert float(rows[method]["ssim_y"]) == pytest.approx(ssim, abs=ssim_tol), method
    assert (demo_run / "grid.png").stat().st_size > 0
