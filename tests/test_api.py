"""The Python inference API: ``gansr.load_generator`` and ``gansr.upscale`` on numpy arrays, PIL images and
tensors give the same pixels as ``gansr-upscale`` (issue 16 item 17)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gansr
from gansr.archs.bicubic import BicubicUpsampler
from gansr.archs.rrdbnet import RRDBNet
from gansr.cli.upscale import main as upscale_main
from gansr.data.image_io import read_image, to_tensor, to_uint8, write_image

CONFIG = {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2}


@pytest.fixture()
def generator_file(tmp_path):
    torch.manual_seed(0)
    network = RRDBNet(**{k: v for k, v in CONFIG.items() if k != "_target_"}, init_scale=1.0)
    path = tmp_path / "generator.pth"
    torch.save({"params": network.state_dict(), "config": {"generator": CONFIG, "extractor": None, "scale": 2}}, path)
    return path


@pytest.fixture()
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (20, 28, 3), dtype=np.uint8)


def test_numpy_pil_and_cli_agree(generator_file, image, tmp_path):
    generator = gansr.load_generator(generator_file)
    array = gansr.upscale(image, generator, tile=8, overlap=20)
    assert isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.shape == (40, 56, 3)
    pil = gansr.upscale(Image.fromarray(image), str(generator_file), tile=8, overlap=20)  # a path works too
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == (56, 40)
    write_image(tmp_path / "in" / "x.png", image)
    upscale_main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--checkpoint",
                  str(generator_file), "--tile", "8", "--tile-overlap", "20", "--device", "cpu"])
    np.testing.assert_array_equal(array, np.asarray(pil))
    np.testing.assert_array_equal(array, read_image(tmp_path / "out" / "x.png"))
    with torch.no_grad():  # and the pixels are the network's (rounded), not something else of that shape
        expected = to_uint8(generator(to_tensor(image)[None])[0])
    assert np.abs(array.astype(int) - expected).max() <= 1  # tiled vs whole: float rounding may differ by 1 level


def test_tensors_keep_their_dimensions(generator_file, image):
    generator = gansr.load_generator(generator_file)
    single = to_tensor(image)
    batch = torch.stack([single, single.flip(-1)])
    sr_single, sr_batch = gansr.upscale(single, generator), gansr.upscale(batch, generator, tile=10)
    assert sr_single.shape == (3, 40, 56) and sr_batch.shape == (2, 3, 40, 56)
    assert sr_single.dtype == torch.float32 and 0 <= sr_batch.min() and sr_batch.max() <= 1
    torch.testing.assert_close(sr_batch[0], sr_single, rtol=0, atol=1e-5)


def test_bicubic_without_a_generator(image):
    sr = gansr.upscale(image, scale=4)
    expected = to_uint8(BicubicUpsampler(4)(to_tensor(image)[None])[0])
    np.testing.assert_array_equal(sr, expected)


def test_bad_arguments_are_clear(generator_file, image):
    generator = gansr.load_generator(generator_file)
    with pytest.raises(ValueError, match="needs scale"):
        gansr.upscale(image)
    with pytest.raises(ValueError, match="scale=4 differs from the generator's scale 2"):
        gansr.upscale(image, generator, scale=4)
    with pytest.raises(ValueError, match="uint8"):
        gansr.upscale(image.astype(np.float32), generator)
    with pytest.raises(ValueError, match="tile"):
        gansr.upscale(image, generator, tile=-5)
    with pytest.raises(TypeError, match="list"):
        gansr.upscale(image.tolist(), generator)


def test_non_rgb_pil_image_is_converted_with_a_warning(image):
    with pytest.warns(UserWarning, match="mode L"):
        sr = gansr.upscale(Image.fromarray(image[..., 0]), scale=2)
    assert sr.mode == "RGB" and sr.size == (56, 40)
