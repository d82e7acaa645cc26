"""gansr.utils.checkpoint and the convert/interpolate CLIs: safe loading, key schemes, wrapping, mismatches."""

from __future__ import annotations

import os
from collections import Counter

import pytest
import torch

from gansr.archs.edsr import EDSR
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.cli import convert as convert_cli
from gansr.cli import interpolate as interpolate_cli
from gansr.cli.interpolate import interpolate_state_dicts
from gansr.inference import load_generator_file
from gansr.utils.checkpoint import (
    CheckpointMismatchError,
    UnsafeCheckpointError,
    extract_state_dict,
    load_generator_weights,
    safe_load,
)
from gansr.utils.key_schemes import detect_scheme, from_gansr_keys, to_gansr_keys


def tiny_rrdbnet(scale: int = 4, num_block: int = 2, seed: int = 0) -> RRDBNet:
    torch.manual_seed(seed)
    return RRDBNet(num_feat=8, num_block=num_block, num_grow_ch=4, scale=scale)


def assert_same_state(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------------ safe_load
def test_a_file_changed_after_it_was_written_is_refused_naming_the_member(tmp_path, capsys):
    """Issue 19 item 3: torch.load checks no CRC, so a weight file damaged in place loaded with wrong tensors.
    safe_load (gansr-upscale, generator_init, convert, interpolate) checks the CRC-32 each zip member stores;
    the legacy non-zip format, which stores none, still loads."""
    import zipfile

    from gansr.cli.upscale import main as upscale_main
    from gansr.data.image_io import write_image
    from gansr.utils.checkpoint import DamagedCheckpointError

    path = tmp_path / "G.pth"
    state = tiny_rrdbnet().state_dict()
    torch.save({"params": state}, path)
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    data[info.header_offset + 200] ^= 0x01  # one bit, inside the largest tensor (local header + name < 200 bytes)
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedCheckpointError, match=rf"G\.pth is damaged: its member {info.filename} fails its CRC"):
        safe_load(path)
    write_image(tmp_path / "in.png", torch.rand(3, 8, 8))
    with pytest.raises(SystemExit) as refused:
        upscale_main(["--checkpoint", str(path), "--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "o")])
    assert str(refused.value) == (f"gansr-upscale: error: {path} is damaged: its member {info.filename} fails its CRC-32 "
                                  "check (the file changed after it was written); use another copy or an earlier "
                                  "checkpoint")
    legacy = tmp_path / "legacy.pth"
    torch.save({"params": state}, legacy, _use_new_zipfile_serialization=False)
    assert_same_state(safe_load(legacy)["params"], state)


class RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_safe_load_refuses_pickled_code_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "payload": RunsCode(str(marker))}, evil)
    with pytest.raises(
        UnsafeCheckpointError, match=r"refused to unpickle .*evil\.pth.*system.*gansr only loads tensors"
    ):
        safe_load(evil)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        load_generator_weights(tiny_rrdbnet(), evil)
    assert not marker.exists()


def test_safe_load_reads_tensors_and_plain_containers(tmp_path):
    path = tmp_path / "ok.pth"
    torch.save({"state_dict": {"generator.w": torch.ones(2)}, "milestones": Counter([5, 10]), "epoch": 3}, path)
    obj = safe_load(path)
    assert torch.equal(obj["state_dict"]["generator.w"], torch.ones(2)) and obj["epoch"] == 3


def test_safe_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        safe_load(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="junk.pth is not a readable PyTorch checkpoint"):
        safe_load(junk)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(TypeError, match="expected a dict"):
        safe_load(listed)


# ------------------------------------------------------------------------------------------------ key schemes
def test_round_trip_new_old_basicsr_new_is_identity():
    gansr_state = tiny_rrdbnet().state_dict()
    new = from_gansr_keys(gansr_state, "esrgan")
    assert detect_scheme(new) == "esrgan" and "RRDB_trunk.1.RDB3.conv5.weight" in new and "HRconv.bias" in new
    old = from_gansr_keys(to_gansr_keys(new), "old")
    assert detect_scheme(old) == "old"
    basicsr = to_gansr_keys(old)
    assert detect_scheme(basicsr) == "gansr"
    back = from_gansr_keys(basicsr, "esrgan")
    assert_same_state(back, new)
    assert_same_state(basicsr, gansr_state)


@pytest.mark.parametrize(
    "scale, expected",
    [
        (
            4,
            {
                "conv_body": "model.1.sub.2",
                "conv_up1": "model.3",
                "conv_up2": "model.6",
                "conv_hr": "model.8",
                "conv_last": "model.10",
            },
        ),
        (2, {"conv_body": "model.1.sub.2", "conv_up1": "model.3", "conv_hr": "model.5", "conv_last": "model.7"}),
    ],
)
def test_old_arch_indices_match_the_sequential_layout(scale, expected):
    """docs/methods.md §1.2: fea_conv, ShortcutBlock(RRDBs + trunk), [upsample, conv, lrelu] x n, HR conv, lrelu, last."""
    old = from_gansr_keys(tiny_rrdbnet(scale=scale).state_dict(), "old")
    for name, index in expected.items():
        assert f"{index}.weight" in old, name
    assert "model.0.weight" in old and "model.1.sub.1.RDB2.conv4.0.bias" in old


@pytest.mark.parametrize("scheme", ["gansr", "esrgan", "old"])
def test_every_scheme_loads_to_the_same_network(scheme):
    source = tiny_rrdbnet(seed=1)
    target = tiny_rrdbnet(seed=2)
    load_generator_weights(target, from_gansr_keys(source.state_dict(), scheme))
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(target(x), source(x))


@pytest.mark.parametrize("unwrapped", [False, True])
def test_fs_extractor_nb1_keys_both_forms(unwrapped):
    """docs/methods.md §1.9 #8: model_ex(nb=1) unwraps its single RRDB (``model.1.sub.RDBk...``)."""
    torch.manual_seed(0)
    source = SharedExtractor(num_feat=8, num_block=1, num_grow_ch=4)
    old = from_gansr_keys(source.state_dict(), "old")
    assert "model.1.sub.0.RDB1.conv1.0.weight" in old
    if unwrapped:
        old = {k.replace("model.1.sub.0.", "model.1.sub."): v for k, v in old.items()}
        assert "model.1.sub.RDB1.conv1.0.weight" in old
    torch.manual_seed(1)
    target = SharedExtractor(num_feat=8, num_block=1, num_grow_ch=4)
    load_generator_weights(target, old)
    assert_same_state(target.state_dict(), source.state_dict())


def test_pesr_keys_load_into_edsr():
    torch.manual_seed(0)
    source = EDSR(num_feat=8, num_block=2, res_scale=0.1, scale=4, trainable_mean_shift=True)
    renames = {"head.0.": "embed.", "tail.0.0.": "upsample.0.", "tail.0.2.": "upsample.2.", "tail.1.": "upsample.4."}
    pesr = {}
    for k, v in source.state_dict().items():
        for old, new in renames.items():
            k = k.replace(old, new) if k.startswith(old) else k
        pesr[k] = v
    assert detect_scheme(pesr) == "pesr" and "upsample.4.weight" in pesr and "body.2.weight" in pesr
    target = EDSR(num_feat=8, num_block=2, res_scale=0.1, scale=4, trainable_mean_shift=True)
    load_generator_weights(target, pesr)
    assert_same_state(target.state_dict(), source.state_dict())


# ------------------------------------------------------------------------------------------------ wrapping
def test_params_and_params_ema_wrapping_with_fallback():
    a, b = tiny_rrdbnet(seed=1).state_dict(), tiny_rrdbnet(seed=2).state_dict()
    wrapped = {"params": a, "params_ema": b}
    assert_same_state(extract_state_dict(wrapped), a)
    assert_same_state(extract_state_dict(wrapped, key="params_ema"), b)
    with pytest.warns(UserWarning, match="params_ema"):
        assert_same_state(extract_state_dict({"params": a}, key="params_ema"), a)
    with pytest.raises(KeyError, match="extractor"):
        extract_state_dict(a, key="extractor")


def test_module_prefix_is_stripped_and_non_tensors_refused():
    state = tiny_rrdbnet().state_dict()
    stripped = extract_state_dict({f"module.{k}": v for k, v in state.items()})
    assert_same_state(stripped, state)
    with pytest.raises(TypeError, match="not tensors"):
        extract_state_dict({"epoch": 3, "net": state})


def test_lightning_checkpoint_generator_prefix(tmp_path):
    generator = tiny_rrdbnet(seed=3)
    full = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    full["discriminator.linear1.weight"] = torch.zeros(1, 2)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": full, "pytorch-lightning_version": "2.6.6", "loops": {"x": Counter([1])}}, path)
    target = tiny_rrdbnet(seed=4)
    load_generator_weights(target, path)
    assert_same_state(target.state_dict(), generator.state_dict())
    with pytest.raises(KeyError, match=r"no 'extractor\.\*'.*discriminator.*generator"):
        load_generator_weights(target, path, key="extractor")


# ------------------------------------------------------------------------------------------------ mismatches
def test_other_architecture_fails_naming_keys(tmp_path):
    path = tmp_path / "edsr.pth"
    torch.save(EDSR(num_feat=8, num_block=1, scale=4).state_dict(), path)
    with pytest.raises(
        CheckpointMismatchError, match=r"edsr\.pth.*RRDBNet.*missing: conv_first\.weight.*unexpected: sub_mean\.weight"
    ):
        load_generator_weights(tiny_rrdbnet(), path)


def test_other_scale_and_width_fail_naming_keys():
    with pytest.raises(CheckpointMismatchError, match=r"unexpected: conv_up2\.weight, conv_up2\.bias"):
        load_generator_weights(tiny_rrdbnet(scale=2), tiny_rrdbnet(scale=4).state_dict())
    wide = RRDBNet(num_feat=16, num_block=2, num_grow_ch=4).state_dict()
    with pytest.raises(
        CheckpointMismatchError, match=r"with other shapes: conv_first\.weight \(16, 3, 3, 3\) vs model \(8, 3, 3, 3\)"
    ):
        load_generator_weights(tiny_rrdbnet(), wide, strict=False)


def test_non_strict_load_reports_missing_keys():
    target, source = tiny_rrdbnet(num_block=2, seed=5), tiny_rrdbnet(num_block=1, seed=6)
    report = load_generator_weights(target, source.state_dict(), strict=False)
    assert report.unexpected == [] and report.missing[0].startswith("body.1.")
    assert torch.equal(target.conv_last.weight, source.conv_last.weight)


# ------------------------------------------------------------------------------------------------ interpolation
def test_interpolation_endpoints_are_exact_and_midpoint_averages():
    a, b = tiny_rrdbnet(seed=1).state_dict(), tiny_rrdbnet(seed=2).state_dict()
    assert_same_state(interpolate_state_dicts(a, b, 0.0), a)
    assert_same_state(interpolate_state_dicts(a, b, 1.0), b)
    mid = interpolate_state_dicts(a, b, 0.5)
    assert torch.allclose(mid["conv_first.weight"], (a["conv_first.weight"] + b["conv_first.weight"]) / 2)
    with pytest.raises(ValueError, match="alpha"):
        interpolate_state_dicts(a, b, 1.5)


def test_interpolation_of_different_networks_fails():
    a, b = tiny_rrdbnet(scale=4).state_dict(), tiny_rrdbnet(scale=2).state_dict()
    with pytest.raises(CheckpointMismatchError, match=r"only in a: \['conv_up2.bias', 'conv_up2.weight'\]"):
        interpolate_state_dicts(a, b, 0.8)


def test_interpolate_cli_mixes_schemes(tmp_path, capsys):
    a, b = tiny_rrdbnet(seed=1).state_dict(), tiny_rrdbnet(seed=2).state_dict()
    torch.save(from_gansr_keys(a, "old"), tmp_path / "psnr.pth")
    torch.save({"params_ema": from_gansr_keys(b, "esrgan")}, tmp_path / "gan.pth")
    out = tmp_path / "interp.pth"
    interpolate_cli.main(
        [
            "--a",
            str(tmp_path / "psnr.pth"),
            "--b",
            str(tmp_path / "gan.pth"),
            "--alpha",
            "1",
            "--out",
            str(out),
            "--key-b",
            "params_ema",
        ]
    )
    assert_same_state(safe_load(out), b)
    assert "interp.pth" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ convert CLI
TINY = ["num_feat=8", "num_block=1", "num_grow_ch=4"]


def test_convert_cli_lightning_checkpoint_to_generator_file(tmp_path):
    torch.manual_seed(0)
    generator = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()}}, ckpt)
    out = tmp_path / "G.pth"
    convert_cli.main(["--checkpoint", str(ckpt), "--arch", "rrdbnet", "--out", str(out), "--set", *TINY])
    converted = safe_load(out)
    assert converted["config"]["generator"]["num_block"] == 1 and converted["config"]["scale"] == 4
    assert_same_state(converted["params"], generator.state_dict())
    path = load_generator_file(out)  # what gansr-upscale / gansr-eval read
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(path(x), generator.eval()(x))

    official = tmp_path / "esrgan_names.pth"
    convert_cli.main(
        ["--checkpoint", str(out), "--arch", "rrdbnet", "--out", str(official), "--scheme", "esrgan", "--set", *TINY]
    )
    assert detect_scheme(safe_load(official)) == "esrgan"


def test_convert_cli_wrong_arch_and_help(tmp_path, capsys):
    src = tmp_path / "G.pth"
    torch.save(tiny_rrdbnet().state_dict(), src)
    with pytest.raises(CheckpointMismatchError, match="SRResNet"):
        convert_cli.main(
            ["--checkpoint", str(src), "--arch", "srresnet", "--out", str(tmp_path / "x.pth"), "--set", "num_feat=8"]
        )
    with pytest.raises(FileNotFoundError, match="rrdbnet"):
        convert_cli.main(["--checkpoint", str(src), "--arch", "nope", "--out", str(tmp_path / "x.pth")])
    assert not (tmp_path / "x.pth").exists()
    with pytest.raises(SystemExit) as exit_info:
        convert_cli.main(["--help"])
    assert exit_info.value.code == 0 and "--checkpoint" in capsys.readouterr().out


def test_convert_cli_official_fs_srgan_pair(tmp_path):
    """Official Fs-SRGAN: G' in old keys with in_nc 64, E in old keys with the nb=1 unwrapping (docs/methods.md §1.9)."""
    torch.manual_seed(0)
    extractor = SharedExtractor(num_feat=8, num_block=1, num_grow_ch=4)
    generator = RRDBNet(in_channels=8, num_feat=8, num_block=1, num_grow_ch=4)
    e_file, g_file, out = tmp_path / "FsSRGAN_E.pth", tmp_path / "FsSRGAN_G.pth", tmp_path / "G.pth"
    old_e = from_gansr_keys(extractor.state_dict(), "old")
    torch.save({k.replace("model.1.sub.0.", "model.1.sub."): v for k, v in old_e.items()}, e_file)
    torch.save(from_gansr_keys(generator.state_dict(), "old"), g_file)
    convert_cli.main(
        ["--checkpoint", str(g_file), "--arch", "fs_rrdbnet", "--out", str(out), "--set", "in_channels=8", *TINY,
         "--extractor", str(e_file), "--extractor-set", *TINY]
    )  # fmt: skip
    converted = safe_load(out)
    assert converted["config"]["extractor"]["_target_"] == "gansr.archs.shared_extractor.SharedExtractor"
    assert_same_state(converted["extractor"], extractor.state_dict())
    x = torch.rand(1, 3, 5, 5)
    assert torch.equal(load_generator_file(out)(x), generator(extractor(x)))


def test_interpolate_generator_files_keeps_config(tmp_path):
    files = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        generator = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
        ckpt, out = tmp_path / f"{seed}.ckpt", tmp_path / f"G{seed}.pth"
        torch.save({"state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()}}, ckpt)
        convert_cli.main(["--checkpoint", str(ckpt), "--arch", "rrdbnet", "--out", str(out), "--set", *TINY])
        files.append(out)
    blended = interpolate_cli.interpolate_files(*files, alpha=0.0)
    assert blended["config"] == safe_load(files[0])["config"]
    assert_same_state(blended["params"], safe_load(files[0])["params"])
