"""gansr-convert's gaps of issue 24 (item 2), one test per row of its table: BasicSR model-zoo files holding only
``params_ema``, BasicSR's EDSR and MSRResNet key layouts, the FASRGAN repository's sr_resnet without BN, gansr
generator files converted with the config they store, and conversions that would drop part of the network refused."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from gansr.archs.edsr import EDSR
from gansr.archs.rrdbnet import RRDBNet
from gansr.cli import convert as convert_cli
from gansr.inference import load_generator
from gansr.utils.checkpoint import extract_state_dict, safe_load
from gansr.utils.key_schemes import detect_scheme

TINY = ["num_feat=8", "num_block=1", "num_grow_ch=4"]
DIV2K_MEAN = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)  # BasicSR EDSR's default rgb_mean


def tiny_rrdbnet(**kwargs) -> RRDBNet:
    torch.manual_seed(0)
    return RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, **kwargs).eval()


def test_params_ema_only_file_converts_without_key(tmp_path):
    """Model-zoo layout: before, 'no params entry; using params' and then `error: params`."""
    generator = tiny_rrdbnet()
    torch.save({"params_ema": generator.state_dict()}, tmp_path / "zoo.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no misleading fallback warning either
        convert_cli.main(["--checkpoint", str(tmp_path / "zoo.pth"), "--arch", "rrdbnet", "--out",
                          str(tmp_path / "G.pth"), "--set", *TINY])
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        assert torch.equal(load_generator(tmp_path / "G.pth")(x), generator(x))


def test_fallback_warning_names_the_entry_it_uses():
    state = tiny_rrdbnet().state_dict()
    with pytest.warns(UserWarning, match="no 'params' entry; using 'params_ema'"):
        extract_state_dict({"params_ema": state}, key="params")


def basicsr_edsr_state(network: EDSR) -> dict[str, torch.Tensor]:
    """The tensors of ``network`` under BasicSR's EDSR names (``basicsr/archs/edsr_arch.py``: conv_first, body.N.
    conv1/conv2, conv_after_body, upsample.N, conv_last; no mean-shift tensors), renamed here by hand."""
    own, blocks = network.state_dict(), len(network.body) - 1
    names = {"head.0": "conv_first", f"body.{blocks}": "conv_after_body", "tail.1": "conv_last"}
    names |= {f"body.{i}.body.0": f"body.{i}.conv1" for i in range(blocks)}
    names |= {f"body.{i}.body.2": f"body.{i}.conv2" for i in range(blocks)}
    names |= {f"tail.0.{i}": f"upsample.{i}" for i in (0, 2)}
    return {f"{names[k.rsplit('.', 1)[0]]}.{k.rsplit('.', 1)[1]}": v for k, v in own.items()
            if not k.startswith(("sub_mean", "add_mean"))}


def basicsr_edsr_forward(state: dict[str, torch.Tensor], x: torch.Tensor, num_block: int) -> torch.Tensor:
    """BasicSR's EDSR computation written from its definition (``(x - mean) * 255``, residual body, pixel
    shuffle, ``/ 255 + mean``) with plain functional ops, independent of gansr's EDSR module."""
    conv = lambda t, name: F.conv2d(t, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)  # noqa: E731
    feat = conv((x - DIV2K_MEAN) * 255.0, "conv_first")
    res = feat
    for i in range(num_block):
        res = res + conv(F.relu(conv(res, f"body.{i}.conv1")), f"body.{i}.conv2")
    res = conv(res, "conv_after_body") + feat
    up = F.pixel_shuffle(conv(F.pixel_shuffle(conv(res, "upsample.0"), 2), "upsample.2"), 2)
    return conv(up, "conv_last") / 255.0 + DIV2K_MEAN


def test_basicsr_edsr_layout_converts_and_computes_the_same(tmp_path):
    """Before: refused with missing/unexpected keys (only the names differ)."""
    torch.manual_seed(1)
    source = EDSR(num_feat=8, num_block=2)
    state = basicsr_edsr_state(source)
    assert detect_scheme(state) == "basicsr_edsr"
    torch.save({"params": state}, tmp_path / "EDSR_Mx4_official.pth")
    convert_cli.main(["--checkpoint", str(tmp_path / "EDSR_Mx4_official.pth"), "--arch", "edsr_baseline",
                      "--out", str(tmp_path / "G.pth"), "--set", "num_feat=8", "num_block=2"])
    converted = load_generator(tmp_path / "G.pth")
    x = torch.rand(1, 3, 7, 6)
    with torch.no_grad():
        assert (converted(x) - basicsr_edsr_forward(state, x, 2)).abs().max().item() <= 1e-5


def demo_generator_file(path) -> RRDBNet:
    generator = tiny_rrdbnet(image_skip="bicubic")
    config = {"generator": {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 8, "num_block": 1,
                            "num_grow_ch": 4, "scale": 4, "image_skip": "bicubic"}, "extractor": None, "scale": 4}
    torch.save({"params": generator.state_dict(), "config": config}, path)
    return generator


def test_gansr_generator_file_is_converted_with_its_stored_config(tmp_path, capsys):
    """Before: `--arch is needed` without --arch/--set."""
    generator = demo_generator_file(tmp_path / "generator.pth")
    convert_cli.main(["--checkpoint", str(tmp_path / "generator.pth"), "--out", str(tmp_path / "copy.pth")])
    assert "gansr generator file" in capsys.readouterr().out
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        assert torch.equal(load_generator(tmp_path / "copy.pth")(x), generator(x))
    assert safe_load(tmp_path / "copy.pth")["config"]["generator"]["image_skip"] == "bicubic"


@pytest.mark.parametrize("with_arch", [False, True])
def test_official_scheme_that_would_drop_the_image_skip_is_refused(tmp_path, capsys, with_arch):
    """Before: with --arch/--set the bicubic skip was silently dropped (the official code's output differed by
    1.05 on Set5)."""
    demo_generator_file(tmp_path / "generator.pth")
    arch = ["--arch", "rrdbnet", "--set", *TINY] if with_arch else []
    with pytest.raises(ValueError, match="image_skip=bicubic.*keep --scheme gansr"):
        convert_cli.main(["--checkpoint", str(tmp_path / "generator.pth"), "--scheme", "esrgan",
                          "--out", str(tmp_path / "official.pth"), *arch])
    assert not (tmp_path / "official.pth").exists()


def test_official_scheme_that_would_drop_the_extractor_is_refused(tmp_path):
    from gansr.archs.shared_extractor import SharedExtractor

    torch.manual_seed(0)
    generator = RRDBNet(in_channels=8, num_feat=8, num_block=1, num_grow_ch=4)
    extractor = SharedExtractor(num_feat=8, num_block=1)
    config = {"generator": {"_target_": "gansr.archs.rrdbnet.RRDBNet", "in_channels": 8, "num_feat": 8,
                            "num_block": 1, "num_grow_ch": 4},
              "extractor": {"_target_": "gansr.archs.shared_extractor.SharedExtractor", "num_feat": 8,
                            "num_block": 1}, "scale": 4}
    torch.save({"params": generator.state_dict(), "extractor": extractor.state_dict(), "config": config},
               tmp_path / "fs.pth")
    with pytest.raises(ValueError, match="shared extractor"):
        convert_cli.main(["--checkpoint", str(tmp_path / "fs.pth"), "--scheme", "old", "--out", str(tmp_path / "o.pth")])


def test_plain_rrdbnet_still_converts_to_the_official_scheme(tmp_path):
    generator = tiny_rrdbnet()
    config = {"generator": {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 8, "num_block": 1,
                            "num_grow_ch": 4}, "extractor": None, "scale": 4}
    torch.save({"params": generator.state_dict(), "config": config}, tmp_path / "G.pth")
    convert_cli.main(["--checkpoint", str(tmp_path / "G.pth"), "--scheme", "esrgan", "--out", str(tmp_path / "o.pth")])
    assert detect_scheme(safe_load(tmp_path / "o.pth")) == "esrgan"


def basicsr_msrresnet_state(num_feat: int, num_block: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under BasicSR's MSRResNet names and shapes (x4), made here, not by gansr's module."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {"conv_first": (num_feat, 3), "upconv1": (4 * num_feat, num_feat), "upconv2": (4 * num_feat, num_feat),
              "conv_hr": (num_feat, num_feat), "conv_last": (3, num_feat)}
    shapes |= {f"body.{i}.conv{j}": (num_feat, num_feat) for i in range(num_block) for j in (1, 2)}
    state = {}
    for name, (out_channels, in_channels) in shapes.items():
        state[f"{name}.weight"] = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * 0.1
        state[f"{name}.bias"] = torch.randn(out_channels, generator=generator) * 0.01
    return state


def basicsr_msrresnet_forward(state: dict[str, torch.Tensor], x: torch.Tensor, num_block: int) -> torch.Tensor:
    """BasicSR's MSRResNet computation from its definition, with plain functional ops."""
    conv = lambda t, name: F.conv2d(t, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)  # noqa: E731
    lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
    out = lrelu(conv(x, "conv_first"))
    for i in range(num_block):
        out = out + conv(F.relu(conv(out, f"body.{i}.conv1")), f"body.{i}.conv2")
    out = lrelu(F.pixel_shuffle(conv(out, "upconv1"), 2))
    out = lrelu(F.pixel_shuffle(conv(out, "upconv2"), 2))
    out = conv(lrelu(conv(out, "conv_hr")), "conv_last")
    return out + F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)


def test_basicsr_msrresnet_converts_and_computes_the_same(tmp_path):
    """Before: refused, no such architecture."""
    state = basicsr_msrresnet_state(num_feat=8, num_block=2)
    assert detect_scheme(state) == "basicsr_msrresnet"
    torch.save({"params": state}, tmp_path / "MSRResNet_x4.pth")
    convert_cli.main(["--checkpoint", str(tmp_path / "MSRResNet_x4.pth"), "--arch", "msrresnet", "--out",
                      str(tmp_path / "G.pth"), "--set", "num_feat=8", "num_block=2"])
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        assert (load_generator(tmp_path / "G.pth")(x) - basicsr_msrresnet_forward(state, x, 2)).abs().max() <= 1e-5


def fasrgan_srresnet_state(num_feat: int, num_block: int, num_up: int, batch_norm: bool = False,
                           seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the state-dict names of the FASRGAN repository's ``SRResNet`` (``sr_resnet``,
    ``codes/models/modules/architecture.py``) as its ``block.sequential`` flattens them, made here, not by gansr:
    ``model.0`` fea_conv; ``model.1.sub.N.res.{0,2}`` the ResNetBlocks (conv, ReLU, conv; with BN: conv, BN, ReLU,
    conv, BN = ``res.{0,1,3,4}``); ``model.1.sub.<num_block>`` the LR conv; ``model.{2+3k}`` the up-sampling convs
    (conv, PixelShuffle, ReLU each); then HR_conv0 (conv, ReLU) and HR_conv1."""
    generator = torch.Generator().manual_seed(seed)
    block_convs = ("res.0", "res.3") if batch_norm else ("res.0", "res.2")
    shapes = {"model.0": (num_feat, 3), f"model.1.sub.{num_block}": (num_feat, num_feat)}
    shapes |= {f"model.1.sub.{i}.{conv}": (num_feat, num_feat) for i in range(num_block) for conv in block_convs}
    shapes |= {f"model.{2 + 3 * k}": (4 * num_feat, num_feat) for k in range(num_up)}
    shapes |= {f"model.{2 + 3 * num_up}": (num_feat, num_feat), f"model.{4 + 3 * num_up}": (3, num_feat)}
    state = {}
    for name, (out_channels, in_channels) in shapes.items():
        state[f"{name}.weight"] = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * 0.1
        state[f"{name}.bias"] = torch.randn(out_channels, generator=generator) * 0.01
    if batch_norm:
        for i in range(num_block):
            for bn in ("res.1", "res.4"):
                for field in ("weight", "bias", "running_mean", "running_var"):
                    state[f"model.1.sub.{i}.{bn}.{field}"] = torch.rand(num_feat, generator=generator)
                state[f"model.1.sub.{i}.{bn}.num_batches_tracked"] = torch.tensor(0)
    return state


def fasrgan_srresnet_forward(state: dict[str, torch.Tensor], x: torch.Tensor, num_block: int,
                             num_up: int) -> torch.Tensor:
    """The FASRGAN repository's SRResNet (norm_type None, ReLU, mode CNA, pixel-shuffle up-sampling) from its
    definition, with plain functional ops: ``model.1`` is ShortcutBlock(blocks + LR conv)."""
    conv = lambda t, name: F.conv2d(t, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)  # noqa: E731
    feat = conv(x, "model.0")
    res = feat
    for i in range(num_block):
        res = res + conv(F.relu(conv(res, f"model.1.sub.{i}.res.0")), f"model.1.sub.{i}.res.2")
    out = feat + conv(res, f"model.1.sub.{num_block}")
    for k in range(num_up):
        out = F.relu(F.pixel_shuffle(conv(out, f"model.{2 + 3 * k}"), 2))
    return conv(F.relu(conv(out, f"model.{2 + 3 * num_up}")), f"model.{4 + 3 * num_up}")


def test_fasrgan_srresnet_layout_has_the_papers_parameter_count():
    """nf 64, nb 16, x4: the FASRGAN paper's 1.554K (its SRGAN rows), as gansr's SRResNetBasicSR has."""
    state = fasrgan_srresnet_state(num_feat=64, num_block=16, num_up=2)
    assert sum(v.numel() for v in state.values()) == 1_554_499


def test_fasrgan_srresnet_converts_and_computes_the_same(tmp_path):
    """Before: refused, keys mapped as the old RRDBNet layout (missing body.N.body.0, unexpected model.1.sub.N.res)."""
    state = fasrgan_srresnet_state(num_feat=8, num_block=2, num_up=2)
    torch.save(state, tmp_path / "SRGAN_G.pth")
    convert_cli.main(["--checkpoint", str(tmp_path / "SRGAN_G.pth"), "--arch", "srresnet_basicsr", "--out",
                      str(tmp_path / "G.pth"), "--set", "num_feat=8", "num_block=2"])
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        assert (load_generator(tmp_path / "G.pth")(x) - fasrgan_srresnet_forward(state, x, 2, 2)).abs().max() <= 1e-5
    convert_cli.main(["--checkpoint", str(tmp_path / "G.pth"), "--scheme", "old", "--out", str(tmp_path / "back.pth")])
    back = safe_load(tmp_path / "back.pth")
    assert sorted(back) == sorted(state)
    assert all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(ValueError, match="RRDBNet"):
        convert_cli.main(["--checkpoint", str(tmp_path / "G.pth"), "--scheme", "esrgan", "--out",
                          str(tmp_path / "esrgan.pth")])


def test_fasrgan_srresnet_with_batch_norm_is_refused(tmp_path):
    """norm_type batch: refused in one line naming the file and the BN keys (SRResNetBasicSR has no BN)."""
    torch.save(fasrgan_srresnet_state(num_feat=8, num_block=2, num_up=2, batch_norm=True), tmp_path / "bn.pth")
    with pytest.raises(RuntimeError, match=r"bn\.pth.*batch norm.*model\.1\.sub\.0\.res\.1\.weight"):
        convert_cli.main(["--checkpoint", str(tmp_path / "bn.pth"), "--arch", "srresnet_basicsr", "--out",
                          str(tmp_path / "G.pth"), "--set", "num_feat=8", "num_block=2"])
    assert not (tmp_path / "G.pth").exists()
