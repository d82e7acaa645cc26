"""A generator file or a run config is data: it may only select gansr's own classes, never run code.

The malicious file is the one from the reliability issue: it loads with ``torch.load(weights_only=True)`` (its
config is plain strings, bytes and booleans) but names ``torch.load`` of a pickle that calls ``os.system``.
"""
from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from gansr.analysis import load_gan_run
from gansr.archs.rrdbnet import RRDBNet
from gansr.cli.convert import main as convert_main
from gansr.cli.upscale import main as upscale_main
from gansr.inference import load_generator_file
from gansr.utils.safe_config import UnsafeConfigError, build_architecture, check_targets

TINY = {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 4, "num_block": 1, "num_grow_ch": 4, "scale": 4}


class _Payload:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def malicious_generator_file(folder: Path) -> tuple[Path, Path]:
    """(the generator file, the marker file its payload would create)."""
    marker = folder / "payload_ran"
    payload = pickle.dumps(_Payload(f"touch {marker}"))
    params = RRDBNet(**{k: v for k, v in TINY.items() if k != "_target_"}).state_dict()
    config = {
        "generator": {
            "_target_": "torch.load",
            "f": {"_target_": "io.BytesIO", "initial_bytes": payload},
            "weights_only": False,
        },
        "extractor": None,
        "scale": 4,
    }
    path = folder / "G.pth"
    torch.save({"params": params, "config": config}, path)
    assert isinstance(torch.load(path, weights_only=True), dict)  # the file itself passes weights_only
    return path, marker


def test_malicious_generator_file_is_refused_and_runs_nothing(tmp_path):
    path, marker = malicious_generator_file(tmp_path)
    with pytest.raises(UnsafeConfigError, match="refusing to build 'torch.load'"):
        load_generator_file(path)
    assert not marker.exists()


def test_upscale_cli_refuses_the_malicious_file_in_one_line(tmp_path, capsys):
    path, marker = malicious_generator_file(tmp_path)
    image = tmp_path / "lr.png"
    from gansr.data.image_io import write_image

    write_image(image, torch.rand(3, 8, 8))
    with pytest.raises(SystemExit) as exit_info:
        upscale_main(["--input", str(image), "--output", str(tmp_path / "out"), "--checkpoint", str(path)])
    assert "refusing to build 'torch.load'" in str(exit_info.value.code)
    assert not marker.exists()


def test_eval_cli_refuses_the_malicious_file(tmp_path):
    import subprocess

    path, marker = malicious_generator_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "gansr.cli.evaluate", f"checkpoint={path}", "sets=[Set5]", f"out_dir={tmp_path}/eval"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "refusing to build 'torch.load'" in result.stderr + result.stdout
    assert not marker.exists()


@pytest.mark.parametrize(
    "node, message",
    [
        ({**TINY, "_target_": "os.system"}, "refusing to build 'os.system'"),
        ({**TINY, "_target_": "gansr.archs.unet_discriminator.UNetDiscriminator"}, "refusing to build"),
        ({**TINY, "num_feat": {"_target_": "builtins.int"}}, "argument 'num_feat' of RRDBNet must be"),
        ({**TINY, "not_an_argument": 1}, "RRDBNet has no argument 'not_an_argument'"),
    ],
)
def test_build_architecture_allow_list(node, message):
    with pytest.raises(UnsafeConfigError, match=message):
        build_architecture(node, "G.pth")


def test_build_architecture_builds_the_named_class():
    network = build_architecture(TINY, "G.pth")
    assert isinstance(network, RRDBNet) and network.conv_first.out_channels == 4


def test_convert_refuses_a_yaml_that_names_code(tmp_path):
    bad = tmp_path / "arch.yaml"
    OmegaConf.save(OmegaConf.create({"_target_": "subprocess.call", "args": ["true"]}), bad)
    weights = tmp_path / "w.pth"
    torch.save(RRDBNet(num_feat=4, num_block=1, num_grow_ch=4).state_dict(), weights)
    with pytest.raises(UnsafeConfigError, match="refusing to build 'subprocess.call'"):
        convert_main(["--checkpoint", str(weights), "--arch", str(bad), "--out", str(tmp_path / "G.pth")])


def test_run_config_targets_are_vetted():
    check_targets({"_target_": "gansr.GANModule", "optimizer_g": {"_target_": "torch.optim.Adam", "_partial_": True}},
                  "run")
    for target in ("os.system", "gansr.utils.safe_config.check_targets", "torch.optim.Adam.step"):
        with pytest.raises(UnsafeConfigError):
            check_targets({"_target_": "gansr.GANModule", "loss": [{"_target_": target}]}, "run")


def test_load_gan_run_refuses_a_run_config_that_names_code(tmp_path):
    marker = tmp_path / "payload_ran"
    config = {"module": {"_target_": "gansr.GANModule", "generator_init": None, "perceptual_loss": None,
                         "discriminator": {"_target_": "os.system", "command": f"touch {marker}"}}}
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.create(config), tmp_path / ".hydra" / "config.yaml")
    with pytest.raises(UnsafeConfigError, match="outside gansr and torch.optim"):
        load_gan_run(tmp_path)
    assert not marker.exists()
