"""Readable pictures (gansr.figures): the crop where methods differ, labelled panels with their metrics, the demo
grid with both held-out photos, the validation picture."""
from __future__ import annotations

import numpy as np
import torch

from gansr.figures import Panel, comparison_row, most_detailed_window, most_different_window, panel_figure, zoom
from gansr.metrics.psnr_ssim import psnr, ssim


def test_windows_find_the_planted_difference_and_detail():
    torch.manual_seed(0)
    base = torch.full((3, 64, 96), 0.5)
    other = base.clone()
    other[:, 40:56, 60:76] = torch.rand(3, 16, 16)  # the two methods disagree only here
    assert most_different_window([base, other, base], size=16, border=4) == (40, 60)
    hr = base.clone()
    hr[:, 8:24, 16:32] = torch.rand(3, 16, 16)  # texture only here
    assert most_detailed_window(hr, size=16) == (8, 16)


def test_comparison_row_crops_zooms_and_captions_with_the_metrics():
    torch.manual_seed(0)
    hr = torch.rand(3, 64, 64)
    lr = torch.nn.functional.avg_pool2d(hr[None], 4)[0]
    sr = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    row = comparison_row(lr, {"model": sr}, hr, scale=4, crop_size=24, zoom_factor=3, window=(8, 16))
    assert [p.title for p in row] == ["HR (whole image)", "LR", "model", "HR"]
    assert torch.equal(row[2].image, zoom(sr[:, 8:32, 16:40], 3)) and row[2].image.shape == (3, 72, 72)
    expected = f"{float(psnr(sr[None], hr[None], crop_border=4)):.2f} dB / {float(ssim(sr[None], hr[None], crop_border=4)):.4f}"
    assert row[2].caption[0] == f"image {expected}"
    assert row[0].box == (9, 18, 27, 27)  # the crop, boxed on the 72 px thumbnail (x72/64)


def test_panel_figure_draws_titles_and_pictures():
    red = torch.zeros(3, 40, 40)
    red[0] = 1
    figure = np.asarray(panel_figure([[Panel(red, "A", ("x",)), Panel(red, "B")]] * 2, heading="title",
                                     row_labels=["one", "two"]))
    assert figure.shape[1] == 2 * 40 + 3 * 8 and figure.shape[0] > 2 * 40 + 4 * 15
    reds = (figure[..., 0] == 255) & (figure[..., 1] == 0)
    assert reds.sum() == 4 * 40 * 40  # every panel pasted pixel-exact, nothing drawn over it
    assert (figure[:20].min(axis=-1) < 128).any()  # the heading is written


def test_demo_grid_has_a_row_per_heldout_photo():
    from gansr.cli.demo import comparison_grid

    torch.manual_seed(0)
    items = [{"lr": torch.rand(3, 24, 24), "hr": torch.rand(3, 96, 96), "name": f"photo{i}"} for i in range(2)]
    upscalers = {"Bicubic": lambda x: torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic"),
                 "Model": lambda x: torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")}
    one = np.asarray(comparison_grid(items[:1], upscalers, scale=4, crop_size=32, zoom_factor=2))
    two = np.asarray(comparison_grid(items, upscalers, scale=4, crop_size=32, zoom_factor=2))
    assert two.shape[1] == one.shape[1] and two.shape[0] > one.shape[0] + 64
    assert one.shape[1] >= 5 * 64  # LR | Bicubic | Model | HR panels of 64 px, plus the thumbnail


def test_validation_picture_is_labelled_and_larger(tmp_path):
    from gansr.training.callbacks import validation_figure

    torch.manual_seed(0)
    hr = torch.rand(3, 64, 64)
    lr = torch.nn.functional.avg_pool2d(hr[None], 4)[0]
    picture = validation_figure(lr, hr.clone(), hr, 1500, "Set5", crop_size=32, zoom=2)
    assert picture.shape[0] == 3 and picture.shape[-1] >= 4 * 64 and picture.shape[-2] > 64 + 40
    assert 0 <= float(picture.min()) and float(picture.max()) <= 1
