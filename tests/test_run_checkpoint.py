"""A training run's Lightning checkpoint is usable as it is: ``gansr.load_generator``, ``gansr-upscale`` and
``gansr-convert`` rebuild its generator from the architecture the run recorded (issue 16 item 6), through the
same allow-list as generator files (a run config naming code is refused)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from test_experiments import tiny_overrides

from gansr.cli import compose_config
from gansr.cli.convert import main as convert_main
from gansr.cli.train import train
from gansr.cli.upscale import main as upscale_main
from gansr.data.image_io import read_image, write_image
from gansr.inference import RunConfigNotFoundError, load_generator
from gansr.utils.checkpoint import safe_load
from gansr.utils.safe_config import UnsafeConfigError


@pytest.fixture(scope="module")
def tiny_run(tiny_hr_folder, tmp_path_factory):
    """A 2-iteration Fs-SRGAN run (narrow RRDBNet num_feat=8, shared extractor, EMA): the run folder."""
    tmp = tmp_path_factory.mktemp("fs_run")
    cfg = compose_config([*tiny_overrides("fs_srgan", tiny_hr_folder, tmp), "module.ema_decay=0.5"], tmp / "run")
    train(cfg)
    return tmp / "run"


@pytest.fixture()
def run_copy(tiny_run, tmp_path):
    """A copy of the tiny run folder that a test may change."""
    return shutil.copytree(tiny_run, tmp_path / "run")


def assert_same_file(a: dict, b: dict) -> None:
    assert a["config"] == b["config"] and set(a) == set(b)
    for part in set(a) - {"config"}:
        assert a[part].keys() == b[part].keys() and all(torch.equal(a[part][k], b[part][k]) for k in a[part])


@pytest.mark.parametrize("use_ema", [True, False])
def test_load_generator_reads_a_run_checkpoint(tiny_run, use_ema):
    from_ckpt = load_generator(tiny_run / "checkpoints" / "last.ckpt", use_ema=use_ema)
    from_export = load_generator(tiny_run / "generator.pth", use_ema=use_ema)
    assert from_ckpt.extractor is not None and from_ckpt.generator.conv_first.weight.shape[0] == 8
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(from_ckpt(x), from_export(x))


def test_the_suggested_convert_command_works_on_a_narrow_run(tiny_run, tmp_path, capsys):
    ckpt = tiny_run / "checkpoints" / "last.ckpt"
    convert_main(["--checkpoint", str(ckpt), "--arch", "rrdbnet", "--out", str(tmp_path / "G.pth")])  # as suggested
    assert "using the architecture recorded" in capsys.readouterr().out
    convert_main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "G2.pth")])  # --arch not needed
    export = safe_load(tiny_run / "generator.pth")
    assert {"params", "params_ema", "extractor", "extractor_ema"} <= set(export)
    assert_same_file(safe_load(tmp_path / "G.pth"), export)
    assert_same_file(safe_load(tmp_path / "G2.pth"), export)


def test_upscale_cli_takes_the_checkpoint_directly(tiny_run, tmp_path):
    image = tmp_path / "in" / "x.png"
    write_image(image, np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8))
    for name, weights in (("ckpt", tiny_run / "checkpoints" / "last.ckpt"), ("pth", tiny_run / "generator.pth")):
        upscale_main(["--input", str(image), "--output", str(tmp_path / name), "--checkpoint", str(weights),
                      "--device", "cpu"])
    np.testing.assert_array_equal(read_image(tmp_path / "ckpt" / "x.png"), read_image(tmp_path / "pth" / "x.png"))


def test_hydra_saved_config_is_read_unresolved(run_copy):
    """What @hydra.main leaves: <run>/.hydra/config.yaml with interpolations such as ``scale: ${scale}``."""
    cfg = OmegaConf.load(run_copy / "hparams.yaml")
    cfg.generator.scale = "${scale}"
    (run_copy / "hparams.yaml").unlink()
    (run_copy / ".hydra").mkdir()
    OmegaConf.save(cfg, run_copy / ".hydra" / "config.yaml")
    assert load_generator(run_copy / "checkpoints" / "last.ckpt").scale == 4


def test_checkpoint_outside_its_run_folder_says_what_to_do(tiny_run, tmp_path):
    moved = tmp_path / "elsewhere" / "last.ckpt"
    moved.parent.mkdir()
    shutil.copy(tiny_run / "checkpoints" / "last.ckpt", moved)
    with pytest.raises(RunConfigNotFoundError, match="--arch"):
        load_generator(moved)
    with pytest.raises(RunConfigNotFoundError, match="hparams.yaml"):
        convert_main(["--checkpoint", str(moved), "--out", str(tmp_path / "G.pth")])
    image = tmp_path / "x.png"
    write_image(image, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SystemExit, match="no run config was found"):
        upscale_main(["--input", str(image), "--output", str(tmp_path / "o"), "--checkpoint", str(moved)])


def test_run_config_naming_code_is_refused(run_copy, tmp_path):
    marker = tmp_path / "ran"
    cfg = OmegaConf.load(run_copy / "hparams.yaml")
    cfg.generator = {"_target_": "os.system", "command": f"touch {marker}"}
    OmegaConf.save(cfg, run_copy / "hparams.yaml")
    with pytest.raises(UnsafeConfigError, match="os.system"):
        load_generator(run_copy / "checkpoints" / "last.ckpt")
    assert not marker.exists()
