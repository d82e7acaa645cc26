"""Bad inputs give clear errors (and run no code): a generator_init of another architecture or scale, a missing
preset, SR larger than HR in gansr-score, and a resume checkpoint that carries pickled code."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from hydra.errors import MissingConfigException
from hydra.utils import instantiate

from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.srresnet import SRResNet
from gansr.cli import compose_config
from gansr.cli.score import main as score_main
from gansr.cli.train import train
from gansr.data.image_io import write_image
from gansr.utils.checkpoint import CheckpointMismatchError

TINY_RRDB = ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"]

def root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None:
        err = err.__cause__
    return err

@pytest.mark.parametrize(
    "other, names",
    [
        (lambda: SRResNet(num_feat=8, num_block=1), r"missing: conv_first.weight"),  # another architecture
        (lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2), r"missing: conv_up2"),  # another scale
    ],
    ids=["architecture", "scale"],
)
@pytest.mark.parametrize("wrapping", ["basicsr", "lightning"])
def test_generator_init_of_another_network_names_the_keys(other, names, wrapping, tmp_path):
    weights = tmp_path / "other.pth"
    state = other().state_dict()
    if wrapping == "lightning":  # a gansr run's .ckpt: G under 'generator.'
        torch.save({"state_dict": {f"generator.{k}": v for k, v in state.items()}, "iteration": 2}, weights)
    else:
        torch.save({"params": state}, weights)
    cfg = compose_config(["experiment=esrgan_psnr", *TINY_RRDB, f"module.generator_init={weights}"], tmp_path / "run")
    with pytest.raises(Exception) as info:
        instantiate(cfg.module)
    err = root_cause(info.value)
    assert isinstance(err, CheckpointMismatchError)
    assert f"module.generator_init={weights}" in str(err) and "RRDBNet" in str(err)

    assert re.search(names, str(err)), str(err)

TINY_EDSR = ["generator.num_feat=8", "generator.num_block=1"]


def test_edsr_x4_preset_starts_from_the_x2_run(tmp_path):
    """edsr_psnr (x4) from an edsr_psnr_x2 checkpoint (EDSR-PyTorch demo.sh): body copied, new up-sampler conv."""
    x2 = instantiate(compose_config(["experiment=edsr_psnr_x2", *TINY_EDSR], tmp_path / "x2").module)
    weights = tmp_path / "x2.ckpt"
    torch.save({"state_dict": {f"generator.{k}": v for k, v in x2.generator.state_dict().items()}}, weights)
    cfg = compose_config(["experiment=edsr_psnr", *TINY_EDSR, f"module.generator_init={weights}"], tmp_path / "x4")
    x4 = instantiate(cfg.module).generator
    assert x4(torch.rand(1, 3, 4, 4)).shape == (1, 3, 16, 16)
    assert torch.equal(x4.body[0].body[0].weight, x2.generator.body[0].body[0].weight)
    assert torch.equal(x4.tail[1].weight, x2.generator.tail[1].weight)
    assert x4.tail[0][2].weight.shape == x4.tail[0][0].weight.shape  # the second x4 conv exists, freshly initialised
    # without the preset's generator_init_scale=2 the same file is refused, naming the up-sampler key
    strict = compose_config(["experiment=edsr_psnr", *TINY_EDSR, f"module.generator_init={weights}",
                             "module.generator_init_scale=null"], tmp_path / "strict")
    with pytest.raises(Exception) as info:
        instantiate(strict.module)
    assert isinstance(root_cause(info.value), CheckpointMismatchError) and "tail.0.2" in str(root_cause(info.value))


def test_generator_init_scale_is_refused_for_rrdbnet(tmp_path):
    weights = tmp_path / "x2.pth"
    torch.save({"params": RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2).state_dict()}, weights)
    cfg = compose_config(["experiment=esrgan_psnr", *TINY_RRDB, f"module.generator_init={weights}",
                          "module.generator_init_scale=2"], tmp_path / "run")
    with pytest.raises(Exception) as info:
        instantiate(cfg.module)
    assert "generator_init_scale=2" in str(root_cause(info.value)) and "EDSR" in str(root_cause(info.value))


def test_missing_preset_is_hydras_error_naming_it(tmp_path):
    with pytest.raises(MissingConfigException, match="nope"):
        compose_config(["experiment=nope"], tmp_path / "run")

def test_score_sr_larger_than_hr_is_a_clear_error(tmp_path):
    write_image(tmp_path / "hr" / "a.png", np.zeros((32, 32, 3), np.uint8))
    write_image(tmp_path / "sr" / "a.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(SystemExit, match=r"size mismatch: SR .*a\.png is 40x40 but HR .*a\.png is 32x32"):
        score_main(["--sr", str(tmp_path / "sr"), "--hr", str(tmp_path / "hr"), "--metrics", "psnr_y"])

class RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)

def test_resume_from_a_checkpoint_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "iteration": 1, "payload": RunsCode(str(marker))}, evil)
    hr = tmp_path / "HR"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(hr / f"img{i}.png", rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    cfg = compose_config(
        ["experiment=esrgan_psnr", *TINY_RRDB, "data=folder", f"data.train.hr_dir={hr}",
         f"data.train.lr_cache_dir={tmp_path / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=2",
         "data.num_workers=0", "trainer.max_steps=2", "trainer.enable_progress_bar=false", f"resume={evil}"],
        tmp_path / "run",
    )
    with pytest.raises(ValueError, match=r"resume=.*evil.ckpt: refused to unpickle it: it needs posix.system"):
        train(cfg)  # refused while checking the file, before anything is built
    assert not marker.exists()
    assert not (tmp_path / "run" / "generator.pth").exists()


# outputs that cannot be written fail first, naming the path (issue 13 item 11)
@pytest.mark.parametrize("command", ["convert", "interpolate"])
def test_weight_writers_check_out_before_reading(command, tmp_path):
    from gansr.cli import convert, interpolate
    from gansr.utils.output_paths import OutputNotWritableError

    blocker = tmp_path / "taken"
    blocker.write_text("a file where a folder is needed")
    out = blocker / "G.pth"
    missing = str(tmp_path / "missing.pth")  # read only after the --out check: its error must not come first
    argv = {"convert": ["--checkpoint", missing, "--arch", "rrdbnet", "--out", str(out)],
            "interpolate": ["--a", missing, "--b", missing, "--alpha", "0.5", "--out", str(out)]}[command]
    with pytest.raises(OutputNotWritableError, match=re.escape(str(out))):
        {"convert": convert.main, "interpolate": interpolate.main}[command](argv)


def test_save_weights_names_the_path(tmp_path, monkeypatch):
    from gansr.utils.output_paths import OutputNotWritableError, save_weights

    def fail(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:747] . open file failed")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OutputNotWritableError, match=re.escape(str(tmp_path / "G.pth"))):
        save_weights({}, tmp_path / "G.pth")


def test_output_folder_that_is_a_file_or_a_file_that_is_a_folder(tmp_path):
    from gansr.utils.output_paths import OutputNotWritableError, check_writable_file, check_writable_folder

    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputNotWritableError, match="is a file, not a folder"):
        check_writable_folder(tmp_path / "f")
    with pytest.raises(OutputNotWritableError, match="is a folder; give a file name"):
        check_writable_file(tmp_path)
    assert check_writable_folder(tmp_path / "new" / "sub").is_dir() and not list((tmp_path / "new" / "sub").iterdir())


@pytest.mark.parametrize("command", ["convert", "interpolate"])
def test_weight_writer_commands_print_one_line_not_a_traceback(command, tmp_path, monkeypatch):
    from gansr.cli import convert, interpolate

    missing = str(tmp_path / "missing.pth")
    argv = {"convert": ["--checkpoint", missing, "--arch", "rrdbnet"],
            "interpolate": ["--a", missing, "--b", missing, "--alpha", "0.5"]}[command]
    monkeypatch.setattr("sys.argv", [f"gansr-{command}", *argv, "--out", str(tmp_path / "G.pth")])
    with pytest.raises(SystemExit) as info:
        {"convert": convert.cli, "interpolate": interpolate.cli}[command]()
    assert str(info.value) == f"gansr-{command}: error: checkpoint not found: {missing}"
