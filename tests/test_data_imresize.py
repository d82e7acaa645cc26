"""MATLAB-exact bicubic imresize: golden MATLAB outputs (../shared/data fixtures) and batching/device checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import loadmat

from gansr.data.imresize import imresize, imresize_uint8, output_size


def _small_inputs() -> dict[str, np.ndarray]:
    """The inputs listed in fixtures/matlab_imresize_small/README.md (MATLAB (row, col) 1-based -> 0-based)."""
    topleft = np.zeros((4, 4))
    topleft[0, 0], topleft[1, 0], topleft[0, 1], topleft[0, 3] = 100, 10, 1, 100
    bottomright = np.zeros((4, 4))
    bottomright[3, 3], bottomright[2, 3], bottomright[3, 2], bottomright[3, 0] = 100, 10, 1, 100
    return {
        "square": np.arange(64.0).reshape(8, 8),
        "small": np.arange(16.0).reshape(4, 4),
        "s15": np.arange(225.0).reshape(15, 15),
        "topleft": topleft,
        "bottomright": bottomright,
    }


SMALL_CASES = {  # file -> (input, antialiasing)
    "down_down_small_noaa": ("small", False),
    "down_down_small_aa": ("small", True),
    "down_down_noaa": ("square", False),
    "down_down_aa": ("square", True),
    "down_down_irregular_noaa": ("square", False),
    "down_down_irregular_aa": ("square", True),
    "up_up_topleft_noaa": ("topleft", False),
    "up_up_bottomright_noaa": ("bottomright", False),
    "up_up_irregular_noaa": ("square", False),
    "up_up_irregular_aa": ("square", True),
    "down_down_x2_aa": ("square", True),
    "down_down_x4_aa": ("square", True),
    "down_down_x3_aa": ("s15", True),
    "down_down_x5_aa": ("s15", True),
}


@pytest.mark.parametrize("case", sorted(SMALL_CASES))
def test_matches_matlab_small_arrays(shared_data, case):
    expected = loadmat(shared_data / "fixtures" / "matlab_imresize_small" / f"{case}.mat")[case]
    name, antialias = SMALL_CASES[case]
    out = imresize(torch.from_numpy(_small_inputs()[name]), size=expected.shape, antialias=antialias)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-10)


def _matlab_im2uint8(x: torch.Tensor) -> np.ndarray:
    """MATLAB imwrite of a double image: round(255 * x) half away from zero, saturated."""
    return torch.floor(x * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


@pytest.mark.parametrize("tag, scale", [("down_x2", 1 / 2), ("down_x3", 1 / 3), ("down_x4", 1 / 4),
                                        ("up_x2", 2), ("up_x3", 3)])
def test_matches_matlab_baboon_double_path(shared_data, tag, scale):
    """MATLAB R2017b imwrite(imresize(im2double(baboon), s, 'bicubic')): every pixel equal after rounding."""
    folder = shared_data / "fixtures" / "matlab_imresize"
    img = torch.from_numpy(np.array(Image.open(folder / "baboon.png"))).permute(2, 0, 1).double() / 255
    expected = np.array(Image.open(folder / f"baboon_{tag}_matlab.png")).transpose(2, 0, 1)
    out = imresize(img[None], scale)[0]
    assert out.shape == expected.shape
    assert (_matlab_im2uint8(out) == expected).all()


def test_reproduces_set5_lr_bicubic_x4_uint8_path(shared_data):
    """Set5 LR_bicubic/X4 = MATLAB imresize(uint8 HR mod 4, 1/4): >= 99.9% equal, none off by more than 1."""
    equal = total = worst = 0
    for hr_path in sorted((shared_data / "Set5" / "HR").glob("*.png")):
        hr = np.array(Image.open(hr_path))
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        expected = np.array(Image.open(shared_data / "Set5" / "LR_bicubic" / "X4" / f"{hr_path.stem}x4.png"))
        diff = np.abs(imresize_uint8(hr, 1 / 4).astype(int) - expected)
        equal, total, worst = equal + (diff == 0).sum(), total + diff.size, max(worst, diff.max())
    assert total > 0
    assert equal / total >= 0.999
    assert worst <= 1


def test_batched_equals_per_image_and_keeps_dtype():
    x = torch.rand(3, 3, 17, 23, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    for scale in (1 / 3, 2):
        batched = imresize(x, scale)
        assert batched.dtype == torch.float32
        assert batched.shape[-2:] == output_size((17, 23), scale)
        singles = torch.stack([imresize(img, scale) for img in x])
        assert torch.equal(batched, singles)


def test_uint8_path_rounds_after_each_pass():
    arr = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    out = imresize_uint8(arr, 1 / 4)
    assert out.dtype == np.uint8 and out.shape == (6, 5, 3)
    t = torch.from_numpy(arr).permute(2, 0, 1).double()
    # a uint8 tensor and a float tensor on the uint8 path give the same integers ...
    assert np.array_equal(imresize(t, 1 / 4, uint8_path=True).permute(1, 2, 0).numpy(), out)
    # ... which differ from rounding only once at the end (the intermediate rounding is what MATLAB does)
    once = torch.floor(imresize(t, 1 / 4) + 0.5).clamp(0, 255).permute(1, 2, 0).numpy()
    assert np.abs(once - out).max() <= 1


def test_constant_image_stays_constant_and_sizes_ceil():
    x = torch.full((1, 7, 9), 0.3, dtype=torch.float64)
    for scale in (1 / 4, 1 / 3, 3):
        out = imresize(x, scale)
        assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-12)
    assert imresize(x, 1 / 4).shape[-2:] == (2, 3)  # MATLAB ceils: ceil(7/4), ceil(9/4)


def test_rejects_bad_arguments():
    x = torch.rand(1, 8, 8)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(x, 0.5, size=(4, 4))
    with pytest.raises(ValueError, match="> 0"):
        imresize(x, -1)
    with pytest.raises(TypeError, match="uint8"):
        imresize_uint8(np.zeros((4, 4, 3), np.float32), 0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu():
    x = torch.rand(2, 3, 40, 36, dtype=torch.float64)
    for scale in (1 / 4, 3):
        assert torch.allclose(imresize(x.cuda(), scale).cpu(), imresize(x, scale), atol=1e-12, rtol=0)
    u8 = (x * 255).round()
    assert torch.equal(imresize(u8.cuda(), 1 / 4, uint8_path=True).cpu(), imresize(u8, 1 / 4, uint8_path=True))
