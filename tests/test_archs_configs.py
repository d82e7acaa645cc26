"""conf/generator and conf/discriminator: every file instantiates its class at the paper size."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gansr.cli import CONF_DIR

GENERATORS = {  # config -> trainable parameters at x4 (docs/methods.md §8.4)
    "rrdbnet": 16_697_987,
    "fs_rrdbnet": 11_697_155,
    "srresnet": 1_549_462,
    "srresnet_fs": 1_385_619,  # SRGAN-paper-style SRGAN_Fs G' (14 RBs, no head); not a row (srgan_fs: below)
    "srresnet_basicsr": 1_554_499,  # BasicSR-2018 SRResNet w/o BN: the FASRGAN paper's "1.554K" for SRGAN
    "edsr_baseline": 1_517_571,
    "msrresnet": 1_517_571,  # BasicSR MSRResNet x4 (64 channels, 16 blocks); same count as the EDSR baseline
    "edsr": 43_089_923,
    "pesr": 43_089_923 + 24,
    "bicubic": 0,
}
DISCRIMINATORS = {  # config -> (HR patch of the paper, parameters)
    "vgg128": (128, 14_499_401),
    "srgan_vgg96": (96, 23_563_649),
    "edsr_vgg": (96, 23_563_713),
    "unet": (128, 70_473_220),
    "fs_vgg192": (192, 20_735_689),
}


def build(group: str, name: str, patch_size: int = 128):
    node = OmegaConf.load(CONF_DIR / group / f"{name}.yaml")
    root = OmegaConf.create({"scale": 4, "data": {"patch_size": patch_size}, "net": node})
    with torch.device("meta"):
        return instantiate(root.net)


def test_every_config_file_is_covered():
    assert {p.stem for p in (CONF_DIR / "generator").glob("*.yaml")} == set(GENERATORS) | {"rrdbnet_tiny"}
    assert {p.stem for p in (CONF_DIR / "discriminator").glob("*.yaml")} == set(DISCRIMINATORS)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_config_paper_size(name):
    if name == "bicubic":
        pytest.importorskip("gansr.data.imresize")
    network = build("generator", name)
    assert sum(p.numel() for p in network.parameters() if p.requires_grad) == GENERATORS[name]


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_config_paper_size(name):
    patch, expected = DISCRIMINATORS[name]
    network = build("discriminator", name, patch)
    assert network.input_size == patch
    assert sum(p.numel() for p in network.parameters()) == expected


def test_tiny_generator_runs():
    node = OmegaConf.load(CONF_DIR / "generator" / "rrdbnet_tiny.yaml")
    net = instantiate(OmegaConf.create({"scale": 4, "net": node}).net)
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
