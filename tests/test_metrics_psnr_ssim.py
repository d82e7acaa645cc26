"""PSNR / SSIM / RMSE / Y conversion conventions (docs/methods.md §1.8, 2.7); golden values in test_metrics_golden.py."""
import math

import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from gansr.metrics import psnr, quantize, rgb2y, rmse, ssim
from gansr.metrics.psnr_ssim import mse


def _images(b=2, h=32, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    hr = quantize(torch.rand(b, 3, h, w, generator=g))
    sr = quantize(hr + 0.08 * torch.randn(b, 3, h, w, generator=g))
    return sr, hr


def test_quantize_levels_clamp_and_idempotence():
    x = torch.tensor([-0.2, 0.0, 0.5, 0.1234, 1.0, 1.7])
    q = quantize(x)
    assert torch.equal(q * 255, torch.round(q * 255))
    assert q.min() == 0 and q.max() == 1
    assert q[2] == 128 / 255  # 127.5 rounds half to even, as numpy / BasicSR tensor2img
    assert torch.equal(quantize(q), q)


def test_rgb2y_matlab_coefficients_and_rounding():
    rgb = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).T.reshape(1, 3, 4, 1)
    y = rgb2y(rgb)
    assert y.dtype == torch.float64 and y.shape == (1, 1, 4, 1)
    assert torch.allclose(y.flatten(), torch.tensor([16.0, 235.0, 16 + 65.481, 16 + 24.966], dtype=torch.float64))
    assert torch.equal(rgb2y(rgb, round=True).flatten(), torch.tensor([16.0, 235.0, 81.0, 41.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(1, 1, 4, 4\)"):
        rgb2y(torch.zeros(1, 1, 4, 4))


def test_psnr_known_mse_and_identical_images():
    hr = torch.zeros(1, 3, 16, 16)
    sr = torch.full_like(hr, 1 / 255)  # error of exactly one grey level everywhere
    assert psnr(sr, hr, crop_border=0, y_channel=False).item() == pytest.approx(10 * math.log10(255**2))
    # Y of a one-level RGB step: (65.481 + 128.553 + 24.966) / 255 = 219/255 levels
    assert psnr(sr, hr, crop_border=2, y_channel=True).item() == pytest.approx(20 * math.log10(255 * 255 / 219))
    assert psnr(hr, hr, crop_border=0).item() == math.inf


def test_border_is_cropped_before_comparison():
    hr = torch.rand(1, 3, 20, 20)
    sr = hr.clone()
    sr[..., :3, :] = 0  # damage a 3-pixel top border only
    assert psnr(sr, hr, crop_border=3).item() == math.inf
    assert psnr(sr, hr, crop_border=2).item() < 60
    assert ssim(sr, hr, crop_border=3).item() == pytest.approx(1.0)


def test_outputs_per_image_float64_and_batch_independent():
    sr, hr = _images(b=3)
    for fn in (psnr, ssim, rmse):
        out = fn(sr, hr, crop_border=4)
        assert out.shape == (3,) and out.dtype == torch.float64
        single = torch.cat([fn(sr[i : i + 1], hr[i : i + 1], crop_border=4) for i in range(3)])
        assert torch.allclose(out, single)


def test_ssim_matches_gaussian_valid_reference():
    """torchmetrics' Gaussian SSIM map (11x11, sigma 1.5) cropped by 5 px = Wang's 'valid' region, same [0,255] data.

    torchmetrics itself averages the reflect-padded full map, which is *not* the MATLAB convention (docs/methods.md §6 row 5).
    """
    sr, hr = _images(b=2, h=40, w=36, seed=3)
    for y_channel in (True, False):
        ours = ssim(sr, hr, crop_border=0, y_channel=y_channel)
        a = rgb2y(sr) if y_channel else sr.double() * 255
        b = rgb2y(hr) if y_channel else hr.double() * 255
        full_mean, ssim_map = structural_similarity_index_measure(
            a, b, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=255.0, reduction="none",
            return_full_image=True,
        )
        valid = ssim_map[..., 5:-5, 5:-5].mean(dim=(1, 2, 3))
        assert torch.allclose(ours, valid.double(), atol=1e-8)
        assert not torch.allclose(ours, full_mean.double(), atol=1e-4)


def test_ssim_identity_symmetry_and_order():
    sr, hr = _images()
    assert torch.allclose(ssim(hr, hr, crop_border=0), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(ssim(sr, hr, crop_border=0), ssim(hr, sr, crop_border=0))
    worse = quantize(hr + 0.3 * torch.randn_like(hr))
    assert (ssim(worse, hr, crop_border=0) < ssim(sr, hr, crop_border=0)).all()


def test_rmse_rounds_y_like_pirm():
    sr, hr = _images()
    exact = mse(sr, hr, crop_border=4, y_channel=True).sqrt()
    rounded = rmse(sr, hr, crop_border=4)
    y_sr, y_hr = rgb2y(sr[..., 4:-4, 4:-4], round=True), rgb2y(hr[..., 4:-4, 4:-4], round=True)
    assert torch.allclose(rounded, (y_sr - y_hr).pow(2).mean(dim=(1, 2, 3)).sqrt())
    assert not torch.allclose(rounded, exact)


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"sr \(1, 3, 16, 16\) and hr \(1, 3, 16, 12\)"):
        psnr(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 12), crop_border=0)
    with pytest.raises(ValueError, match=r"\(1, 1, 16, 16\)"):
        ssim(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), crop_border=0)
    with pytest.raises(ValueError, match="crop_border=8"):
        psnr(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), crop_border=8)
    with pytest.raises(ValueError, match="11x11"):
        ssim(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), crop_border=3)
