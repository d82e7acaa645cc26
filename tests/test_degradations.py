"""The ``degradation`` group (gansr.data.degradations): BD, DN and Real-ESRGAN's pipeline on the training device.

Kernels against independent formulas, noise levels measured on flat images, JPEG against libjpeg (PIL), the
default bicubic stream unchanged, per-sample determinism from the stream position, HR-only workers, the BD/DN
evaluation sets of gansr-downscale, and a tiny ``degradation=realesrgan`` GAN run (its exact resume is in
tests/test_resume.py)."""
from __future__ import annotations

import hashlib
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gansr.cli import compose_config
from gansr.data.degradations import BlurDownsample, RealESRGANDegradation, dihedral, make_degraded_lr
from gansr.data.degradations.kernels import bivariate_kernel, gaussian_kernel, sinc_kernel
from gansr.data.degradations.ops import decimate, gaussian_noise, jpeg, poisson_noise
from gansr.data.demo_data import demo_datamodule
from gansr.data.image_io import read_image, to_tensor
from gansr.data.sampling import PositionSampler
from gansr.data.transforms import augment, random_augment_flags


def realesrgan(tmp_path) -> RealESRGANDegradation:
    """The degradation as ``conf/degradation/realesrgan.yaml`` builds it (the project's own config, not a file
    read back from a run)."""
    from hydra.utils import instantiate

    cfg = compose_config(["degradation=realesrgan"], tmp_path)
    degradation = instantiate(cfg.data.degradation)
    assert isinstance(degradation, RealESRGANDegradation)
    return degradation


# ------------------------------------------------------------------ kernels
def test_bd_kernel_is_fspecial_gaussian_7x7_sigma_1_6():
    x = np.arange(7) - 3
    ref = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.6**2))
    ref /= ref.sum()  # MATLAB fspecial('gaussian', 7, 1.6)
    kernel = gaussian_kernel(7, 1.6).double().numpy()
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(kernel, ref, atol=1e-7)


def test_decimation_reads_the_pixels_of_matlab_nearest():
    for s in (2, 3, 4):
        n = 12 * s
        image = torch.arange(n * n, dtype=torch.float64).reshape(1, 1, n, n)
        # MATLAB imresize(1/s, 'nearest'): output x (1-based) centred at u = x*s + 0.5*(1 - s); nearest input is
        # the one with -0.5 <= u - i < 0.5, i.e. i = floor(u + 0.5)
        rows = [math.floor((x + 1) * s + 0.5 * (1 - s) + 0.5) - 1 for x in range(n // s)]
        expected = image[..., rows, :][..., rows]
        assert torch.equal(decimate(image, s), expected)


def test_bivariate_kernels_sum_to_one_and_have_their_covariance():
    iso = bivariate_kernel(21, 1.6, 1.6, 0.0)
    np.testing.assert_allclose(iso.numpy(), gaussian_kernel(21, 1.6).numpy(), atol=1e-6)
    sx, sy, theta = 3.0, 1.0, 0.6
    k = bivariate_kernel(41, sx, sy, theta).double()
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-6)
    axis = torch.arange(41, dtype=torch.float64) - 20
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    cov = torch.tensor([[float((k * xx * xx).sum()), float((k * xx * yy).sum())],
                        [float((k * xx * yy).sum()), float((k * yy * yy).sum())]], dtype=torch.float64)
    rot = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=torch.float64)
    expected = rot @ torch.diag(torch.tensor([sx**2, sy**2], dtype=torch.float64)) @ rot.T
    torch.testing.assert_close(cov, expected, atol=2e-3, rtol=2e-3)
    plateau = bivariate_kernel(21, 2.0, 2.0, 0.0, beta=2.0, shape="plateau")
    generalized = bivariate_kernel(21, 2.0, 2.0, 0.0, beta=0.5)
    for kernel in (plateau, generalized):
        assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-6) and float(kernel.min()) >= 0


def test_sinc_kernel_is_a_low_pass_at_its_cutoff():
    kernel = sinc_kernel(21, math.pi / 2)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
    response = torch.fft.fft2(torch.nn.functional.pad(kernel.double(), (0, 43, 0, 43))).abs()  # 64x64 grid
    assert float(response[0, 0]) == pytest.approx(1.0, abs=1e-6)
    assert float(response[0, 8]) > 0.8          # 0.25 pi: pass band
    assert float(response[0, 24]) < 0.15        # 0.75 pi: stop band


# ------------------------------------------------------------------ noise and JPEG
def test_gaussian_noise_level_measured_on_a_flat_image():
    flat = torch.full((1, 3, 256, 256), 0.5)
    g = torch.Generator().manual_seed(0)
    noisy = gaussian_noise(flat, 30 / 255, gray=False, generator=g)
    assert float((noisy - flat).std() * 255) == pytest.approx(30, rel=0.02)
    gray = gaussian_noise(flat, 10 / 255, gray=True, generator=g)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])


def test_poisson_noise_has_zero_mean_and_grows_with_its_scale():
    # 256 levels in the image: 256 photons per unit intensity (Real-ESRGAN counts the image's distinct levels)
    levels = torch.arange(256.0).repeat(64)[torch.randperm(256 * 64, generator=torch.Generator().manual_seed(0))]
    image = (levels / 255).reshape(1, 1, 128, 128).expand(1, 3, 128, 128).clone()
    image[..., :, :8] = 0.5  # a mid-grey band away from the clipping at 0 and 1
    low = poisson_noise(image, 0.5, gray=False, generator=torch.Generator().manual_seed(1)) - image
    high = poisson_noise(image, 1.0, gray=False, generator=torch.Generator().manual_seed(1)) - image
    band_low, band_high = low[..., :8], high[..., :8]
    assert abs(float(band_low.mean())) < 3e-3
    assert float(band_low.std()) == pytest.approx(0.5 * math.sqrt(0.5 / 256), rel=0.1)  # sqrt(lambda)/N, scaled
    assert float(band_high.std()) == pytest.approx(2 * float(band_low.std()), rel=0.05)


def _libjpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    buffer = io.BytesIO()
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
        buffer, format="JPEG", quality=quality)
    return to_tensor(np.asarray(Image.open(buffer).convert("RGB")))[None]


def test_jpeg_quality_shows_in_the_error_and_is_near_libjpeg(shared_data):
    image = to_tensor(read_image(shared_data / "Set5" / "HR" / "baby.png")[:256, :256])[None]
    errors = {q: float((jpeg(image, q) - image).abs().mean()) for q in (30, 95)}
    assert errors[30] > 2 * errors[95]
    for quality in (30, 95):
        kornia_vs_libjpeg = float((jpeg(image, quality) - _libjpeg(image, quality)).abs().mean())
        # measured 2026-12-07 on Set5 baby 256x256: see docs/methods.md ("Degradations")
        assert kornia_vs_libjpeg < errors[30] / 2


# ------------------------------------------------------------------ the stream
def _first_batches(cache, **kwargs) -> tuple[str, list[dict]]:
    dm = demo_datamodule(cache_dir=cache, num_workers=0, seed=0, **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    batches = list(dm.stream_loader(4, PositionSampler(lambda: 0, 8)))
    digest = hashlib.sha256()
    for batch in batches:
        for key in ("lr", "hr"):
            if key in batch:
                digest.update(batch[key].numpy().tobytes())
    return digest.hexdigest(), batches


def test_bicubic_matlab_stream_is_unchanged(tmp_path):
    digest, batches = _first_batches(tmp_path)
    # sha256 of the first two demo batches (lr, hr) computed with the code before the degradation group (e15785a)
    assert digest == "5df5f6e2aec0a842686758b63e1de5daa2015f90a94781cc24db2e2626834bc8"
    assert sorted(batches[0]) == ["hr", "lr", "name"]


def test_workers_give_hr_only_and_the_device_makes_the_lr(tmp_path):
    degradation = BlurDownsample(4)
    dm = demo_datamodule(cache_dir=tmp_path, num_workers=0, seed=0, degradation=degradation)
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.stream_loader(4, PositionSampler(lambda: 0, 8))))
    assert sorted(batch) == ["hr", "name", "position"] and batch["hr"].shape == (4, 3, 32, 32)
    assert batch["position"].tolist() == [0, 1, 2, 3]
    out = dm.device_transform(batch)
    assert out["lr"].shape == (4, 3, 8, 8) and out["hr"].shape == (4, 3, 32, 32)
    assert dm.device_augment  # the demo's flips moved to the device
    # no LR file of the training photos was made for this run
    assert all(pair.lr == pair.hr for pair in dm.train.pairs)
    assert not [p for p in tmp_path.rglob("*x4.png") if p.stem[:-2] in {q.name for q in dm.train.pairs}]
    # the flips are applied to HR before degrading: the pair shares them
    from gansr.data.sampling import degradation_rng

    flags = random_augment_flags(degradation_rng(0, 0))
    assert torch.equal(out["hr"][0:1], dihedral(batch["hr"][0:1], *flags))
    np_hr = batch["hr"][0].permute(1, 2, 0).numpy()
    assert np.array_equal(augment(np_hr, np_hr, *flags)[1], out["hr"][0].permute(1, 2, 0).numpy())
    assert torch.equal(out["lr"][0:1], degradation.degrade(out["hr"][0:1]))


def test_a_sample_depends_on_its_position_only(tmp_path):
    degradation = realesrgan(tmp_path)
    hr = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    lr, _ = degradation.apply(hr, torch.tensor([7, 8, 9]), seed=0, augment=True)
    alone, _ = degradation.apply(hr[1:2], torch.tensor([8]), seed=0, augment=True)
    assert lr.shape == (3, 3, 16, 16)
    assert torch.equal(lr[1:2], alone)  # the same whatever else is in the batch (workers, ranks)
    again, _ = degradation.apply(hr, torch.tensor([7, 8, 9]), seed=0, augment=True)
    assert torch.equal(lr, again)
    other_seed, _ = degradation.apply(hr, torch.tensor([7, 8, 9]), seed=1, augment=True)
    assert not torch.equal(lr, other_seed)
    assert torch.equal(lr, (lr * 255).round() / 255)  # 8-bit levels


# ------------------------------------------------------------------ evaluation sets
def test_bd_dn_evaluation_sets_are_fixed(shared_data, tmp_path):
    from gansr.cli.downscale import main

    hr_dir = shared_data / "Set5" / "HR"
    for kind in ("bd", "dn"):
        for attempt in ("a", "b"):
            assert main(["--hr", str(hr_dir), "--out", str(tmp_path / kind / attempt), "--scale", "3",
                         "--degradation", kind]) == 0
        first = sorted((tmp_path / kind / "a").iterdir())
        assert len(first) == 5
        for path in first:
            assert np.array_equal(read_image(path), read_image(tmp_path / kind / "b" / path.name))
    hr = read_image(hr_dir / "baby.png")
    hr = hr[: hr.shape[0] // 3 * 3, : hr.shape[1] // 3 * 3]
    bicubic = make_degraded_lr(hr, 3, "dn", "baby").astype(float) - read_image(tmp_path / "dn" / "a" / "babyx3.png")
    assert np.abs(bicubic).max() == 0  # the CLI writes make_degraded_lr's image
    from gansr.data.datasets import make_lr

    noise = make_degraded_lr(hr, 3, "dn", "baby").astype(float) - make_lr(hr, 3).astype(float)
    assert noise.std() == pytest.approx(30, rel=0.1)  # level 30 (less a little where clipped at 0 and 255)
    bd = make_degraded_lr(hr, 3, "bd", "baby")
    assert bd.shape == (hr.shape[0] // 3, hr.shape[1] // 3, 3)


def test_gansr_eval_reads_the_bd_sets(shared_data, tmp_path):
    from gansr.cli.evaluate import evaluate

    cfg = compose_config([f"root={shared_data}", "sets=[Set5]", "method=Bicubic", "metrics=[psnr_y]", "scale=3",
                          "lr=bd", f"paths.cache_dir={tmp_path / 'cache'}", f"out_dir={tmp_path / 'out'}",
                          "device=cpu"], tmp_path / "out", config_name="eval")
    bd = evaluate(cfg)[0]["psnr_y"]
    cfg.lr = "bicubic"
    bicubic = evaluate(cfg)[0]["psnr_y"]
    assert list((tmp_path / "cache").glob("lr/Set5/X3_BD/*.png"))
    assert bd < bicubic  # the blur costs the bicubic up-sampler PSNR


# ------------------------------------------------------------------ training
@pytest.mark.slow
def test_tiny_realesrgan_gan_run_trains(tmp_path):
    from gansr.cli.train import train

    cfg = compose_config(["experiment=demo", "degradation=realesrgan", "trainer.max_steps=3",
                          "data.num_workers=0", f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path / "run")
    result = train(cfg)
    assert result.iteration == 3
    assert (tmp_path / "run" / "generator.pth").is_file()


def test_a_typo_in_a_degradation_stage_is_refused(tmp_path):
    """The Real-ESRGAN stages are config nodes of their own, so the unread-key check sees inside them."""
    from gansr.cli.train import TRAIN_READS
    from gansr.training.config_keys import UnusedConfigKeyError, check_config_keys

    cfg = compose_config(["experiment=demo", "degradation=realesrgan", "+data.degradation.second.noise_rnage=[1,5]"],
                         tmp_path)
    with pytest.raises(UnusedConfigKeyError, match="noise_range"):
        check_config_keys(cfg, TRAIN_READS)
    check_config_keys(compose_config(["experiment=demo", "degradation=realesrgan"], tmp_path), TRAIN_READS)
