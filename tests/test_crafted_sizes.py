"""Crafted weight files and run configs cannot make gansr hang, exhaust memory or write a wrong-size image (issue 19
item 8): a stored architecture is bounded and checked against its weights' shapes on the ``meta`` device before it
is built, YAML read from disk is capped in size and alias expansion, and every output is ``scale`` x its input."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from gansr.archs.rrdbnet import RRDBNet
from gansr.cli.upscale import main as upscale_main
from gansr.data.image_io import write_image
from gansr.inference import (
    GeneratorPath,
    OutputSizeError,
    load_generator,
    upscale_to_image,
)
from gansr.utils.checkpoint import CheckpointMismatchError
from gansr.utils.safe_config import UnsafeConfigError
from gansr.utils.yaml_data import ConfigFileError, read_yaml_data, resolve_references

TINY = {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 4, "num_block": 1, "num_grow_ch": 4, "scale": 4}


def generator_file(folder: Path, **changes) -> Path:
    """A tiny x4 RRDBNet generator file whose stored config has ``changes`` (``scale`` changes ``config.scale``,
    ``generator_<arg>`` the generator's argument)."""
    params = RRDBNet(**{k: v for k, v in TINY.items() if k != "_target_"}).state_dict()
    generator = dict(TINY)
    scale = changes.pop("scale", 4)
    generator.update({k.removeprefix("generator_"): v for k, v in changes.items()})
    path = folder / "G.pth"
    torch.save({"params": params, "config": {"generator": generator, "extractor": None, "scale": scale}}, path)
    return path


@pytest.mark.parametrize(
    "changes, error, message",
    [
        ({"generator_num_block": 10**7}, UnsafeConfigError, "num_block=10000000 is out of bounds"),
        ({"generator_num_feat": -5}, UnsafeConfigError, "cannot be built: .*negative dimension"),
        ({"generator_num_block": 1000}, CheckpointMismatchError, "far larger than its 42 weight tensors"),  # in bounds
        ({"scale": 1000}, UnsafeConfigError, "config.scale=1000 is not an up-scaling factor"),
        ({"scale": 1000, "generator_scale": 1000}, UnsafeConfigError, "config.scale=1000"),
        ({"scale": 2}, ValueError, "config.scale=2 but its generator up-scales x4"),
        ({"scale": "4"}, UnsafeConfigError, "config.scale='4'"),
    ],
)
def test_a_crafted_architecture_is_refused_before_it_is_built(tmp_path, changes, error, message):
    """A generator file asking for 10^7 blocks hung (3.3 GB after 60 s), config.scale=1000 raised MemoryError and
    config.scale=2 on a x4 network wrote a wrong-size image: each is now one line, before any allocation."""
    path = generator_file(tmp_path, **changes)
    with pytest.raises(error, match=message) as info:
        load_generator(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_weights_of_another_width_are_refused_on_the_meta_device(tmp_path):
    path = generator_file(tmp_path, generator_num_feat=512)  # 512-wide convs would be built for nothing
    with pytest.raises(CheckpointMismatchError, match=r"conv_first.weight \(4, 3, 3, 3\) vs \(512, 3, 3, 3\)"):
        load_generator(path)


def test_upscale_cli_refuses_a_scale_that_is_not_the_networks(tmp_path):
    image, out = tmp_path / "lr.png", tmp_path / "out"
    write_image(image, torch.rand(3, 8, 8))
    with pytest.raises(SystemExit) as info:
        upscale_main(["--input", str(image), "--output", str(out), "--checkpoint", str(generator_file(tmp_path, scale=2))])
    assert "config.scale=2 but its generator up-scales x4" in str(info.value.code)
    assert not list(out.glob("*.png"))


def test_an_output_of_the_wrong_size_is_never_returned():
    """The last guard: whatever the network, its output must be scale x its input (here a x4 network run as x2)."""
    network = GeneratorPath(RRDBNet(num_feat=4, num_block=1, num_grow_ch=4, scale=4), scale=2).eval()
    for tile in (0, 4):
        with pytest.raises(OutputSizeError, match=r"turned a (\d+)x\1 input into (\d+)x\2, not x2"):
            upscale_to_image(network, torch.rand(1, 3, 8, 8), 2, tile=tile, overlap=2)


# ------------------------------------------------------------------ YAML read from disk
ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
    + ["generator: {_target_: gansr.archs.rrdbnet.RRDBNet}", "scale: 4", ""]
)


def test_alias_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB.encode()) < 600  # 9^9 = 387 million values once expanded
    with pytest.raises(ConfigFileError, match="expands to more than 100000 values"):
        read_yaml_data(path)


def test_alias_bomb_beside_a_run_checkpoint_does_not_hang_upscale(tmp_path):
    """The issue's 490-byte bomb in ``.hydra/config.yaml`` next to a ``.ckpt`` hung gansr-upscale."""
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / ".hydra" / "config.yaml").write_text(ALIAS_BOMB)
    params = RRDBNet(**{k: v for k, v in TINY.items() if k != "_target_"}).state_dict()
    torch.save({"state_dict": {f"generator.{k}": v for k, v in params.items()}}, run / "checkpoints" / "last.ckpt")
    image = tmp_path / "lr.png"
    write_image(image, torch.rand(3, 8, 8))
    with pytest.raises(SystemExit) as info:
        upscale_main(["--input", str(image), "--output", str(tmp_path / "out"), "--checkpoint",
                      str(run / "checkpoints" / "last.ckpt")])
    assert "config.yaml: expands to more than" in str(info.value.code) and "\n" not in str(info.value.code)


def test_reference_copies_are_bounded_too(tmp_path):
    """Plain ``${a.b}`` references are copies: a chain of them is capped like aliases."""
    lines = ["a0: [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: [{', '.join([repr(f'${{a{i - 1}}}')] * 10)}]" for i in range(1, 9)]  # 10^9 once copied
    path = tmp_path / "refs.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigFileError, match="references expand to more than"):
        resolve_references(read_yaml_data(path), "a8", path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nest|more than"),
        ("a: !!python/object/apply:os.system [touch x]\n", "not YAML that gansr reads as data"),
        ("a: [unclosed\n", "not YAML that gansr reads as data"),
    ],
)
def test_yaml_that_is_not_plain_data_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=message) as info:
        read_yaml_data(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_yaml_file_past_the_size_cap_is_not_read(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"pad": "x" * (1 << 20)}))
    with pytest.raises(ConfigFileError, match="bytes; a run config is far smaller"):
        read_yaml_data(path)
