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
from gansr.data.image_io import read_image, to_tensor, to_uint8, write_image
from gansr.inference import load_generator_file, tile_count, tiled_upscale, upscale_bands, upscale_to_array

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


# ------------------------------------------------------------------------------------ bounded-memory write path
def float_write_path(upscaler, lr, scale, tile, overlap):
    """What gansr-upscale saved before the uint8 write path: the float output, clamped, then to_uint8."""
    return to_uint8(tiled_upscale(upscaler, lr, scale, tile, overlap)[0].clamp(0, 1))


@pytest.mark.parametrize("upscaler", ["bicubic", "rrdbnet"])
@pytest.mark.parametrize("tile", [0, 16, 24])
def test_uint8_bands_are_bit_identical_to_the_float_path(upscaler, tile):
    network = BicubicUpsampler(scale=4) if upscaler == "bicubic" else tiny_generator()
    lr = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(2))
    expected = float_write_path(network, lr, 4, tile, 8)
    bands = list(upscale_bands(network, lr, 4, tile, 8))
    assert [top for top, _ in bands] == ([0] if tile == 0 else list(range(0, 160, 4 * tile)))
    got = upscale_to_array(network, lr, 4, tile, 8)
    assert got.dtype == np.uint8 and got.shape == (160, 208, 3)
    np.testing.assert_array_equal(got, expected)


def largest_torch_allocation(fn) -> int:
    """Bytes of the largest single tensor allocation (CPU) made while ``fn()`` runs (PyTorch's profiler; numpy and
    Pillow buffers are not counted: they are uint8 by construction)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return max(event.cpu_memory_usage for event in prof.events())


def test_tiled_cli_never_allocates_a_full_size_float_output(tmp_path):
    lr_path = tmp_path / "in" / "big.png"
    write_image(lr_path, np.random.default_rng(3).integers(0, 256, (96, 128, 3), dtype=np.uint8))
    full_float = 3 * (96 * 4) * (128 * 4) * 4  # bytes of the fp32 output canvas
    run = lambda: upscale_main(["--input", str(lr_path), "--output", str(tmp_path / "out"), "--generator", "bicubic",
                                "--scale", "4", "--tile", "32", "--tile-overlap", "2", "--device", "cpu"])
    assert largest_torch_allocation(run) < full_float / 3  # one tile's worth (0.21 here), not the image's
    lr = to_tensor(read_image(lr_path))[None]
    float_canvas = lambda: tiled_upscale(BicubicUpsampler(4), lr, 4, 32, 2)
    assert largest_torch_allocation(float_canvas) >= full_float  # the probe does see a full-size canvas
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "big.png"),
                                  float_write_path(BicubicUpsampler(4), lr, 4, 32, 2))


# ------------------------------------------------------------------------------------ bad inputs and outputs
@pytest.mark.parametrize("option", [["--tile", "-5"], ["--tile-overlap", "-1"]])
def test_cli_negative_tile_is_an_error(option, lr_image, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        upscale_main(["--input", str(lr_image), "--output", str(tmp_path / "out"), "--generator", "bicubic",
                      "--scale", "4", *option])
    assert info.value.code == 2 and "must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_refuses_inputs_that_share_a_stem(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a.png", "a.jpg", "b.png", "b.bmp", "c.png"):
        write_image(tmp_path / "in" / name, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    with pytest.raises(SystemExit) as info:
        upscale_main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--generator", "bicubic",
                      "--scale", "2"])
    assert "a: a.jpg, a.png; b: b.bmp, b.png" in str(info.value)
    assert not list((tmp_path / "out").glob("*.png"))


def test_cli_refuses_to_replace_its_inputs(lr_image):
    with pytest.raises(SystemExit, match="replace the inputs"):
        upscale_main(["--input", str(lr_image.parent), "--output", str(lr_image.parent), "--generator", "bicubic",
                      "--scale", "2"])
    assert read_image(lr_image).shape == (40, 48, 3)


def test_cli_goes_on_after_a_corrupt_image_and_lists_it(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "in" / "a.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (tmp_path / "in" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    write_image(tmp_path / "in" / "c.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    with pytest.raises(SystemExit) as info:
        upscale_main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--generator", "bicubic",
                      "--scale", "2"])
    assert "1 image(s) failed" in str(info.value) and "b.png" in str(info.value)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]


def test_cli_unwritable_output_fails_before_computing(lr_image, tmp_path, monkeypatch):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder should go")
    monkeypatch.setattr("gansr.cli.upscale.upscale_to_image", lambda *a, **k: pytest.fail("computed first"))
    with pytest.raises(SystemExit) as info:
        upscale_main(["--input", str(lr_image), "--output", str(blocker / "sr"), "--generator", "bicubic", "--scale", "2"])
    assert str(blocker / "sr") in str(info.value)
