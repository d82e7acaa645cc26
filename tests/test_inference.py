"""Tiled inference equals whole-image inference, and ``gansr-upscale`` end to end (bicubic and a generator file).

Receptive-field radius of RRDBNet in LR pixels (every conv is 3x3, padding 1):
conv_first 1 + num_block RRDBs x 3 RDBs x 5 chained convs (the dense path conv1 -> ... -> conv5 is 5 convs
deep) + conv_body 1 = ``2 + 15*num_block`` LR pixels, then each nearest-x2 stage's conv adds 1 pixel at its
resolution (1/2, then 1/4 LR pixel) and conv_hr, conv_last 1/4 each: ``2 + 15*nb + 1/2 + 3/4`` -> 18.25 for
nb=1, rounded up to 19 (``receptive_radius``). ``test_receptive_radius_bounds_the_dependence`` checks the bound
with autograd: one output pixel's gradient is zero farther than the radius.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gansr.archs.bicubic import BicubicUpsampler
from gansr.archs.rrdbnet import RRDBNet
from gansr.cli.upscale import main as upscale_main
from gansr.data.image_io import read_image, to_tensor, write_image
from gansr.inference import load_generator_file, tile_count, tiled_upscale

GENERATOR = {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 4}


def tiny_generator() -> RRDBNet:
    torch.manual_seed(0)
    cfg = {k: v for k, v in GENERATOR.items() if k != "_target_"}
    return RRDBNet(**cfg, init_scale=1.0).eval()  # init 1.0: outputs far from 0, so the comparison is not vacuous


def receptive_radius(num_block: int, scale: int) -> int:
    """LR-pixel radius of RRDBNet's receptive field (module docstring)."""
    stages = int(math.log2(scale))
    return math.ceil(2 + 15 * num_block + sum(2.0**-i for i in range(1, stages + 1)) + 2 / scale)


def test_receptive_radius_bounds_the_dependence():
    g, r = tiny_generator(), receptive_radius(1, 4)
    lr = torch.rand(1, 3, 48, 48, requires_grad=True)
    g(lr)[0, :, 24 * 4 + 1, 24 * 4 + 2].sum().backward()
    rows, cols = torch.nonzero(lr.grad.abs().sum(1)[0], as_tuple=True)
    reach = max((rows - 24).abs().max(), (cols - 24).abs().max())
    assert r - 2 <= reach <= r  # the bound holds and is nearly tight


@pytest.mark.parametrize("tile", [16, 24, 40])
def test_tiled_equals_untiled(tile):
    g = tiny_generator()
    lr = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = g(lr)
    tiles = []
    tiled = tiled_upscale(g, lr, 4, tile=tile, overlap=receptive_radius(1, 4), on_tile=tiles.append)
    assert whole.shape == tiled.shape == (1, 3, 256, 256)
    assert len(tiles) == tile_count(64, 64, tile) > 1
    assert whole.abs().mean() > 0.1
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)


def test_too_small_overlap_shows_seams():
    g = tiny_generator()
    lr = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = g(lr)
    assert (tiled_upscale(g, lr, 4, tile=32, overlap=2) - whole).abs().max() > 1e-3


@pytest.fixture()
def lr_image(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "in" / "img.png"
    write_image(path, rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    return path


def test_cli_bicubic(lr_image, tmp_path):
    upscale_main(["--input", str(lr_image.parent), "--output", str(tmp_path / "out"), "--generator", "bicubic",
                  "--scale", "4", "--device", "cpu"])
    sr = read_image(tmp_path / "out" / "img.png")
    expected = BicubicUpsampler(scale=4)(to_tensor(read_image(lr_image))[None])[0].clamp(0, 1)
    assert sr.shape == (160, 192, 3)
    assert np.abs(sr.astype(int) - np.rint(expected.permute(1, 2, 0).numpy() * 255).astype(int)).max() <= 1


def test_cli_generator_file_tiled(lr_image, tmp_path):
    g = tiny_generator()
    file = tmp_path / "generator.pth"
    torch.save({"params": g.state_dict(), "config": {"generator": dict(GENERATOR), "extractor": None, "scale": 4}}, file)
    assert isinstance(load_generator_file(file).generator, RRDBNet)
    upscale_main(["--input", str(lr_image), "--output", str(tmp_path / "out"), "--checkpoint", str(file), "--tile", "16",
                  "--tile-overlap", str(receptive_radius(1, 4)), "--device", "cpu"])
    sr = read_image(tmp_path / "out" / "img.png")
    with torch.no_grad():
        expected = g(to_tensor(read_image(lr_image))[None])[0].clamp(0, 1)
    assert sr.shape == (160, 192, 3)
    assert np.abs(sr.astype(int) - np.rint(expected.permute(1, 2, 0).numpy() * 255).astype(int)).max() <= 1
