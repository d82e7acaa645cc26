"""NIQE / Ma / PI plumbing (golden NIQE in test_metrics_golden.py). Ma's real regression file is not on offline
machines, so Ma is checked with a synthetic ``NRQM_model.mat`` of the same layout (constant forests)."""
import urllib.error

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image, ImageFilter

from gansr.data.image_io import read_image, to_tensor
from gansr.metrics import rgb2y
from gansr.metrics.no_reference import (
    MA_PARAMS_FILE,
    NIQE_PARAMS_FILE,
    load_ma_params,
    load_niqe_params,
    ma,
    niqe,
    perceptual_index,
)
from gansr.utils.weights import MissingWeightError

FOREST_PREDICTIONS = (1.0, 0.5, 0.25)
LINEAR = (1.0, 2.0, 3.0, 4.0)
FAKE_MA = LINEAR[0] + sum(w * p for w, p in zip(LINEAR[1:], FOREST_PREDICTIONS))  # 5.5


def write_fake_ma_params(path):
    """pyiqa's NRQM_model.mat layout: model.linear (4,1), model.rf = 1x3 cell of 7-field structs (single-leaf trees)."""
    forests = np.empty((1, 3), dtype=object)
    for i, prediction in enumerate(FOREST_PREDICTIONS):
        leaf, index = np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int32)
        forests[0, i] = {"ldau": index, "rdau": index, "f2": leaf, "f3": leaf, "threshold": leaf,
                         "prediction": np.full((1, 1), prediction), "split_feature": np.ones((1, 1), dtype=np.int32)}
    scipy.io.savemat(path, {"model": {"linear": np.array(LINEAR).reshape(4, 1), "rf": forests}})
    return path


@pytest.fixture(scope="module")
def niqe_params(shared_data):
    return load_niqe_params(shared_data / "metrics" / "niqe" / "modelparameters.mat")


@pytest.fixture(scope="module")
def baboon(shared_data):
    """(1,3,480,492) Set14 baboon (GTmod12) and a Gaussian-blurred copy (radius 3)."""
    path = shared_data / "fixtures" / "metrics_baboon" / "baboon_gt_GTmod12.png"
    arr = read_image(path)
    blurred = np.asarray(Image.fromarray(arr).filter(ImageFilter.GaussianBlur(3)))
    return to_tensor(arr)[None], to_tensor(blurred)[None]


def test_pi_formula():
    assert perceptual_index(torch.tensor(4.0), torch.tensor(8.0)).item() == pytest.approx(3.0)
    assert perceptual_index(torch.tensor([6.0, 2.0]), torch.tensor([2.0, 10.0])).tolist() == [7.0, 1.0]


def test_niqe_params_file(niqe_params):
    assert niqe_params.mu.shape == (36,) and niqe_params.cov.shape == (36, 36)
    assert niqe_params.mu.dtype == torch.float64
    assert torch.allclose(niqe_params.cov, niqe_params.cov.T)


def test_niqe_batch_dtype_and_blur_sensitivity(niqe_params, baboon):
    sharp, blurred = baboon
    scores = niqe(torch.cat([sharp, blurred]), niqe_params)
    assert scores.shape == (2,) and scores.dtype == torch.float64
    assert scores[0].item() == pytest.approx(niqe(sharp, niqe_params).item(), abs=1e-9)
    assert scores[1] > scores[0] + 2  # strong blur is unnatural for NIQE (5.73 -> 9.68)


def test_niqe_conventions_are_explicit(niqe_params, baboon):
    sharp, _ = baboon
    gray = rgb2y(sharp, round=True) / 255.0
    assert niqe(gray, niqe_params, y_channel=False).item() == pytest.approx(niqe(sharp, niqe_params).item())
    assert niqe(sharp, niqe_params, round_y=False).item() != pytest.approx(niqe(sharp, niqe_params).item(), abs=1e-6)
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(sharp[..., :192, :192], niqe_params, crop_border=4)  # 184x184 after cropping: one block
    with pytest.raises(ValueError, match=r"gray \(B,1,H,W\)"):
        niqe(sharp, niqe_params, y_channel=False)


def test_missing_parameter_files_name_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSR_CACHE", str(tmp_path))
    monkeypatch.delenv("GANSR_DATA", raising=False)  # no NIQE parameters shipped next to a data folder
    monkeypatch.delenv("GANSR_SHARED_DATA", raising=False)

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    for loader, name in ((load_niqe_params, NIQE_PARAMS_FILE), (load_ma_params, MA_PARAMS_FILE)):
        with pytest.raises(MissingWeightError, match=name) as info:
            loader()
        assert str(tmp_path) in str(info.value) and "huggingface.co" in str(info.value)


def test_ma_plumbing_with_synthetic_regression(tmp_path):
    params = load_ma_params(write_fake_ma_params(tmp_path / MA_PARAMS_FILE))
    assert params.linear.shape == (4, 1) and len(params.forests) == 3
    img = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    scores = ma(img, params)
    assert scores.shape == (2,) and scores.dtype == torch.float64
    assert torch.allclose(scores, torch.full((2,), FAKE_MA, dtype=torch.float64))
