"""torchmetrics classes: mean over images across updates and processes (sum + count states), names, quantisation."""
import math

import pytest
import torch
from test_metrics_no_reference import FAKE_MA, write_fake_ma_params
from torchmetrics.utilities.data import dim_zero_sum

from gansr.metrics import (
    LPIPS,
    NIQE,
    PI,
    PSNR,
    RMSE,
    SSIM,
    Ma,
    build_metrics,
    psnr,
    quantize,
    rmse,
    ssim,
)
from gansr.metrics.no_reference import MA_PARAMS_FILE, perceptual_index


def _batch(b, seed, size=32):
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(b, 3, size, size, generator=g)
    return (hr + 0.05 * torch.randn(b, 3, size, size, generator=g)).clamp(0, 1), hr


def test_mean_over_images_not_over_batches():
    metric = PSNR(crop_border=4)
    (sr1, hr1), (sr2, hr2) = _batch(1, 0), _batch(3, 1)
    metric.update(sr1, hr1)
    metric.update(sr2, hr2)
    per_image = psnr(quantize(torch.cat([sr1, sr2])), quantize(torch.cat([hr1, hr2])), crop_border=4)
    assert metric.count == 4 and metric.update_count == 2
    assert metric.compute().item() == pytest.approx(per_image.mean().item())
    assert metric.compute().item() != pytest.approx((per_image[0] + per_image[1:].mean()).item() / 2)
    metric.reset()
    assert metric.count == 0


def test_forward_returns_batch_value_and_accumulates():
    metric = SSIM(crop_border=0, y_channel=False)
    (sr1, hr1), (sr2, hr2) = _batch(1, 2), _batch(1, 3)
    first = metric(sr1, hr1)
    second = metric(sr2, hr2)
    assert first.item() == pytest.approx(ssim(quantize(sr1), quantize(hr1), crop_border=0, y_channel=False).item())
    assert metric.compute().item() == pytest.approx((first + second).item() / 2)


def test_inputs_are_quantised():
    sr, hr = _batch(2, 4)
    assert torch.allclose(PSNR(crop_border=0).score(sr, hr), psnr(quantize(sr), quantize(hr), crop_border=0))
    assert not torch.allclose(PSNR(crop_border=0).score(sr, hr), psnr(sr, hr, crop_border=0))


def test_rmse_is_root_of_mean_mse_pirm():
    metric = RMSE(crop_border=2)
    (sr1, hr1), (sr2, hr2) = _batch(1, 5), _batch(1, 6)
    hr2 = (hr2 * 0.5).clamp(0, 1)  # a much larger error on the second image
    r1 = rmse(quantize(sr1), quantize(hr1), crop_border=2)
    r2 = rmse(quantize(sr2), quantize(hr2), crop_border=2)
    metric.update(sr1, hr1)
    metric.update(sr2, hr2)
    assert metric.compute().item() == pytest.approx(math.sqrt((r1.item() ** 2 + r2.item() ** 2) / 2))


def test_states_are_summed_across_processes():
    """What DDP sync does: states of every rank reduced with their dist_reduce_fx (sum), then compute."""
    everything, rank0, rank1 = PSNR(crop_border=4), PSNR(crop_border=4), PSNR(crop_border=4)
    assert rank0._reductions["total"] is dim_zero_sum and rank0._reductions["count"] is dim_zero_sum
    (sr1, hr1), (sr2, hr2) = _batch(1, 7), _batch(3, 8)
    rank0.update(sr1, hr1)
    rank1.update(sr2, hr2)
    everything.update(torch.cat([sr1, sr2]), torch.cat([hr1, hr2]))
    rank0.merge_state(rank1)
    assert rank0.compute().item() == pytest.approx(everything.compute().item())
    assert rank0.total.dtype == torch.float64


def test_full_reference_metrics_need_hr():
    with pytest.raises(ValueError, match="needs hr"):
        PSNR(crop_border=0).update(torch.rand(1, 3, 16, 16))


def test_build_metrics_names_and_conventions():
    metrics = build_metrics(["psnr_y", "ssim_rgb", "rmse", "lpips"], crop_border=3, lpips_version="0.0",
                            lpips_pretrained_backbone=False)
    assert list(metrics) == ["psnr_y", "ssim_rgb", "rmse", "lpips"]
    assert isinstance(metrics["psnr_y"], PSNR) and metrics["psnr_y"].y_channel and metrics["psnr_y"].crop_border == 3
    assert isinstance(metrics["ssim_rgb"], SSIM) and not metrics["ssim_rgb"].y_channel
    assert isinstance(metrics["rmse"], RMSE)
    assert isinstance(metrics["lpips"], LPIPS) and metrics["lpips"].distance.version == "0.0"
    with pytest.raises(ValueError, match=r"\['psnr'\].*psnr_y"):
        build_metrics(["psnr"], crop_border=4)


def test_lpips_metric_random_backbone():
    torch.manual_seed(0)
    metric = LPIPS(pretrained_backbone=False)
    sr, hr = _batch(2, 9)
    metric.update(sr, hr)
    metric.update(hr, hr)
    assert metric.count == 4
    assert metric.compute().item() == pytest.approx(metric.score(sr, hr).sum().item() / 4, rel=1e-5)


def test_no_reference_metrics_and_pi(shared_data, tmp_path):
    niqe_path = shared_data / "metrics" / "niqe" / "modelparameters.mat"
    ma_path = write_fake_ma_params(tmp_path / MA_PARAMS_FILE)
    metrics = build_metrics(["niqe", "ma", "pi"], crop_border=4, niqe_params_path=niqe_path, ma_params_path=ma_path)
    assert isinstance(metrics["niqe"], NIQE) and isinstance(metrics["ma"], Ma) and isinstance(metrics["pi"], PI)
    assert metrics["niqe"].conventions["crop_border"] == 0  # FASRGAN's PI script shaves nothing
    img = torch.rand(1, 3, 96, 192, generator=torch.Generator().manual_seed(0))  # two NIQE blocks; Ma is slow
    for metric in metrics.values():
        metric.update(img)
    niqe_mean, ma_mean = metrics["niqe"].compute(), metrics["ma"].compute()
    assert ma_mean.item() == pytest.approx(FAKE_MA)
    assert metrics["pi"].compute().item() == pytest.approx(perceptual_index(niqe_mean, ma_mean).item())
