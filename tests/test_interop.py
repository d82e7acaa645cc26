"""Public weight files of architectures gansr did not write, detected by spandrel (gansr.utils.interop), and
gansr's conversions checked against spandrel's independent ESRGAN implementation (issue 24, items 1 and 4)."""
from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
import torch

from gansr.archs.rrdbnet import RRDBNet
from gansr.cli import convert as convert_cli
from gansr.data.image_io import write_image
from gansr.inference import load_generator
from gansr.utils.key_schemes import from_gansr_keys
from gansr.utils.interop import ForeignGenerator, UnrecognisedWeightsError

spandrel = pytest.importorskip("spandrel")
from spandrel.architectures.ESRGAN import ESRGAN as SpandrelESRGAN  # noqa: E402

TOLERANCE = 1e-5  # max |difference| of float outputs: float rounding only


def gansr_rrdbnet(scale: int = 4, seed: int = 0) -> RRDBNet:
    """Random RRDBNet spandrel can detect (its ESRGAN fixes the growth channels at 32)."""
    torch.manual_seed(seed)
    return RRDBNet(num_feat=16, num_block=2, num_grow_ch=32, scale=scale, init_scale=1.0).eval()


def layouts(state: dict) -> dict[str, dict]:
    """The files users download, holding one RRDBNet: official ESRGAN (new arch), old sequential arch (FASRGAN /
    BasicSR-2019), BasicSR ``{params, params_ema}`` and Real-ESRGAN's model zoo (``params_ema`` only)."""
    return {"esrgan": from_gansr_keys(state, "esrgan"), "old": from_gansr_keys(state, "old"),
            "basicsr": {"params": {k: v * 0 for k, v in state.items()}, "params_ema": state},
            "realesrgan": {"params_ema": state}}


@pytest.mark.parametrize("layout", ["esrgan", "old", "basicsr", "realesrgan"])
def test_spandrel_detects_rrdbnet_files_and_agrees_with_gansr(tmp_path, layout):
    generator = gansr_rrdbnet()
    path = tmp_path / f"{layout}.pth"
    torch.save(layouts(generator.state_dict())[layout], path)
    loaded = load_generator(path)  # the EMA weights of the BasicSR file (its 'params' are zeros)
    assert isinstance(loaded.generator, ForeignGenerator) and loaded.scale == 4
    assert loaded.generator.architecture == "ESRGAN"
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        ours, theirs = generator(x), loaded.generator.network(x)
        assert (ours - theirs).abs().max().item() <= TOLERANCE
        assert torch.equal(loaded(x), theirs.clamp(0, 1))  # the wrapper is spandrel's call: clamped to [0, 1]


@pytest.mark.parametrize("scale", [2, 4])
def test_convert_spandrel_built_esrgan_matches_its_outputs(tmp_path, scale):
    """Weights made by spandrel's own ESRGAN (old sequential layout) -> gansr-convert -> gansr's RRDBNet."""
    torch.manual_seed(scale)
    theirs = SpandrelESRGAN(num_filters=16, num_blocks=2, scale=scale).eval()
    torch.save(theirs.state_dict(), tmp_path / "spandrel.pth")
    out = tmp_path / "G.pth"
    convert_cli.main(["--checkpoint", str(tmp_path / "spandrel.pth"), "--arch", "rrdbnet", "--scale", str(scale),
                      "--out", str(out), "--set", "num_feat=16", "num_block=2"])
    ours = load_generator(out)
    assert isinstance(ours.generator, RRDBNet)
    x = torch.rand(2, 3, 8, 7)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= TOLERANCE
    # and back: gansr's esrgan-scheme output is a file spandrel reads as the same network
    official = tmp_path / "official.pth"
    convert_cli.main(["--checkpoint", str(out), "--scheme", "esrgan", "--out", str(official)])
    again = load_generator(official).generator.network
    with torch.no_grad():
        assert (again(x) - theirs(x)).abs().max().item() <= TOLERANCE


def test_safetensors_file_is_read_without_pickle(tmp_path):
    from safetensors.torch import save_file

    generator = gansr_rrdbnet(seed=3)
    path = tmp_path / "RealESRGAN.safetensors"
    save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, path)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert (load_generator(path).generator.network(x) - generator(x)).abs().max().item() <= TOLERANCE


def test_unrecognised_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.weight": torch.zeros(4, 3, 3, 3)}, path)
    with pytest.raises(UnrecognisedWeightsError, match="no architecture spandrel .* knows fits its 1 tensors") as info:
        load_generator(path)
    assert "\n" not in str(info.value) and "gansr-convert --checkpoint" in str(info.value)
    from gansr.cli import upscale as upscale_cli

    write_image(tmp_path / "in.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SystemExit) as exit_info:
        upscale_cli.main(["--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "out"),
                          "--checkpoint", str(path), "--device", "cpu"])
    message = str(exit_info.value.code)
    assert message.startswith("gansr-upscale: ") and "mystery.pth" in message and "\n" not in message


def test_basicsr_file_without_config_is_loaded_not_called_paramless(tmp_path):
    """The issue's row: gansr.load_generator(BasicSR file) said the file had no 'params'."""
    import gansr

    path = tmp_path / "ESRGAN_SRx4.pth"
    torch.save({"params": gansr_rrdbnet().state_dict()}, path)
    assert gansr.load_generator(path).scale == 4


def test_upscale_cli_runs_a_spandrel_file(tmp_path):
    from gansr.cli import upscale as upscale_cli
    from gansr.data.image_io import read_image, to_tensor, to_uint8

    generator = gansr_rrdbnet(seed=4)
    torch.save({"params_ema": generator.state_dict()}, tmp_path / "RealESRGAN_x4plus.pth")
    rng = np.random.default_rng(0)
    write_image(tmp_path / "in.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    upscale_cli.main(["--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "out"),
                      "--checkpoint", str(tmp_path / "RealESRGAN_x4plus.pth"), "--device", "cpu"])
    with torch.no_grad():
        expected = to_uint8(generator(to_tensor(read_image(tmp_path / "in.png"))[None])[0])
    assert np.array_equal(read_image(tmp_path / "out" / "in.png"), expected)


def test_eval_scores_a_spandrel_file_and_a_gansr_file_in_one_table(tmp_path, monkeypatch, capsys):
    from gansr.cli.evaluate import main as eval_main

    rng = np.random.default_rng(1)
    for i in range(2):
        write_image(tmp_path / "data" / "Set5" / "HR" / f"im{i}.png", rng.integers(0, 256, (32, 24, 3), np.uint8))
    generator = gansr_rrdbnet(seed=5)
    torch.save({"params_ema": generator.state_dict()}, tmp_path / "RealESRGAN_x4plus.pth")
    run = tmp_path / "my_run"
    run.mkdir()
    config = {"generator": {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 16, "num_block": 2,
                            "num_grow_ch": 32, "scale": 4}, "extractor": None, "scale": 4}
    torch.save({"params": generator.state_dict(), "config": config}, run / "generator.pth")
    monkeypatch.setenv("GANSR_DEVICE", "cpu")
    monkeypatch.chdir(tmp_path)  # Hydra's evaluate.log
    checkpoints = f"[{tmp_path / 'RealESRGAN_x4plus.pth'},{run / 'generator.pth'},bicubic]"
    monkeypatch.setattr(sys, "argv", ["gansr-eval", f"checkpoint={checkpoints}", f"root={tmp_path / 'data'}",
                                      "sets=[Set5]", "metrics=[psnr_y,ssim_y]", f"out_dir={tmp_path / 'eval'}",
                                      f"paths.cache_dir={tmp_path / 'cache'}", "hydra.run.dir=.",
                                      "hydra.output_subdir=null"])
    eval_main()
    table = (tmp_path / "eval" / "results.csv").read_text().splitlines()
    rows = [line.split(",") for line in table[1:]]
    assert [r[0] for r in rows] == ["RealESRGAN_x4plus", "my_run", "Bicubic"]
    # the same weights score the same through spandrel and through gansr's own RRDBNet
    assert rows[0][3:] == rows[1][3:] and rows[0][3:] != rows[2][3:]
    assert "RealESRGAN_x4plus, my_run, Bicubic" in capsys.readouterr().out


def test_tables_eval_only_scores_a_spandrel_file(tmp_path):
    """The tables' eval-only path (gansr.tables.report.score_generator) reads a public file as a row's generator."""
    from gansr.data.benchmarks import benchmark_dataset
    from gansr.tables.report import score_generator

    rng = np.random.default_rng(2)
    for i in range(2):
        write_image(tmp_path / "data" / "Set5" / "HR" / f"im{i}.png", rng.integers(0, 256, (32, 24, 3), np.uint8))
    dataset = benchmark_dataset("Set5", tmp_path / "data", scale=4, cache_dir=tmp_path / "cache")
    dataset.prepare()
    dataset.table_name = "Set5"
    generator = gansr_rrdbnet(seed=6)
    torch.save(from_gansr_keys(generator.state_dict(), "esrgan"), tmp_path / "generator.pth")
    scores = score_generator(tmp_path / "generator.pth", [dataset], ["psnr_y"], "0.1", tmp_path / "none.mat")
    assert np.isfinite(scores["Set5"]["psnr_y"])


def test_realesrgan_compact_net_runs_as_spandrel_builds_it(tmp_path):
    """An architecture gansr does not have (Real-ESRGAN's SRVGGNetCompact, built by spandrel's own class with random
    weights): gansr-upscale's loader gives spandrel's output."""
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(7)
    theirs = Compact(num_feat=8, num_conv=2, upscale=4).eval()
    with torch.no_grad():
        for parameter in theirs.parameters():
            parameter.uniform_(-0.3, 0.3)
    torch.save({"params": theirs.state_dict()}, tmp_path / "realesr-general-x4v3.pth")
    loaded = load_generator(tmp_path / "realesr-general-x4v3.pth")
    assert loaded.scale == 4 and "Compact" in loaded.generator.architecture
    x = torch.rand(1, 3, 10, 9)
    with torch.no_grad():
        assert (loaded.generator.network(x) - theirs(x)).abs().max().item() <= TOLERANCE


@functools.cache
def basicsr_archs() -> tuple | str:
    """BasicSR's architecture modules, when the ``basicsr`` package (test-only, not a dependency) is installed and
    imports, else why not. Tried once: a failed package import leaves half-imported modules behind."""
    try:
        from basicsr.archs import edsr_arch, rrdbnet_arch, srresnet_arch
    except ModuleNotFoundError as err:
        if err.name == "basicsr":
            return "basicsr is not installed (an optional, test-only cross-check)"
        if err.name == "torchvision.transforms.functional_tensor":
            return ("basicsr does not import: it needs torchvision.transforms.functional_tensor, which current "
                    "torchvision no longer has")
        raise
    return rrdbnet_arch, edsr_arch, srresnet_arch


def import_basicsr_archs() -> tuple:
    found = basicsr_archs()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@pytest.mark.parametrize("arch", ["rrdbnet", "edsr_baseline", "msrresnet"])
def test_conversions_match_the_basicsr_package(tmp_path, arch):
    """Random networks built by BasicSR's own classes -> gansr-convert -> the same outputs (<= 1e-5)."""
    rrdbnet_arch, edsr_arch, srresnet_arch = import_basicsr_archs()
    torch.manual_seed(8)
    theirs = {"rrdbnet": lambda: rrdbnet_arch.RRDBNet(3, 3, scale=4, num_feat=8, num_block=2, num_grow_ch=4),
              "edsr_baseline": lambda: edsr_arch.EDSR(3, 3, num_feat=8, num_block=2, upscale=4),
              "msrresnet": lambda: srresnet_arch.MSRResNet(3, 3, num_feat=8, num_block=2, upscale=4)}[arch]().eval()
    torch.save({"params": theirs.state_dict()}, tmp_path / "basicsr.pth")
    sizes = ["num_feat=8", "num_block=2"] + (["num_grow_ch=4"] if arch == "rrdbnet" else [])
    convert_cli.main(["--checkpoint", str(tmp_path / "basicsr.pth"), "--arch", arch, "--out", str(tmp_path / "G.pth"),
                      "--set", *sizes])
    x = torch.rand(1, 3, 8, 6)
    with torch.no_grad():
        assert (load_generator(tmp_path / "G.pth")(x) - theirs(x)).abs().max().item() <= TOLERANCE


def test_eval_refuses_an_unrecognised_file_in_one_line(tmp_path, monkeypatch):
    from gansr.cli.evaluate import main as eval_main

    torch.save({"encoder.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "mystery.pth")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANSR_DEVICE", "cpu")
    monkeypatch.setattr(sys, "argv", ["gansr-eval", f"checkpoint=[{tmp_path / 'mystery.pth'},bicubic]", "sets=[Set5]",
                                      f"out_dir={tmp_path / 'eval'}", "hydra.run.dir=.", "hydra.output_subdir=null"])
    with pytest.raises(SystemExit) as info:
        eval_main()
    message = str(info.value.code)
    assert message.startswith("gansr-eval: error:") and "mystery.pth" in message and "\n" not in message
