"""Networks of gansr.archs: published parameter counts (docs/methods.md §8.4), shapes of tiny versions, input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gansr.archs.blocks import MeanShift, default_init_weights
from gansr.archs.edsr import EDSR, load_x2_into_x4
from gansr.archs.edsr_discriminator import EDSRDiscriminator
from gansr.archs.fs_discriminator import FsVGGDiscriminator
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.archs.srgan_discriminator import SRGANDiscriminator
from gansr.archs.srresnet import SRResNet
from gansr.archs.srresnet_basicsr import SRResNetBasicSR
from gansr.archs.unet_discriminator import UNetDiscriminator
from gansr.archs.vgg_discriminator import VGGStyleDiscriminator
from gansr.utils.checkpoint import CheckpointMismatchError


def trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


PAPER_SIZES = [  # docs/methods.md §8.4 (computed there from the official layer tables)
    (lambda: RRDBNet(num_block=23), 16_697_987),
    (lambda: RRDBNet(num_block=17), 12_381_443),
    (lambda: RRDBNet(in_channels=64, num_block=16), 11_697_155),
    (lambda: RRDBNet(in_channels=64, num_block=15), 10_977_731),
    (lambda: SharedExtractor(num_block=1), 721_216),
    (lambda: SharedExtractor(num_block=2), 1_440_640),
    (lambda: VGGStyleDiscriminator(input_size=128), 14_499_401),
    (lambda: VGGStyleDiscriminator(input_size=128, conv_bias=True), 14_499_401 + 2_880),
    (lambda: FsVGGDiscriminator(in_channels=64, input_size=192), 20_735_689),
    (lambda: UNetDiscriminator(in_channels=3, input_size=128), 70_473_220),
    (lambda: EDSRDiscriminator(input_size=96), 23_563_713),
    (lambda: EDSR(num_feat=64, num_block=16, res_scale=1.0, scale=4), 1_517_571),
    (lambda: EDSR(num_feat=256, num_block=32, res_scale=0.1, scale=4), 43_089_923),
    (lambda: SRResNet(prelu="shared"), 1_549_462),
    (lambda: SRResNetBasicSR(), 1_554_499),  # the FASRGAN paper's "1.554K" SRGAN (BasicSR-2018, w/o BN)
    (lambda: SharedExtractor(block="resblock"), 112_576),  # model_ex_rb: SRGAN_Fs's E in the FASRGAN repository
]


@pytest.mark.parametrize("build, expected", PAPER_SIZES)
def test_paper_parameter_counts(build, expected):
    with torch.device("meta"):
        network = build()
    assert trainable(network) == expected


def test_fs_generator_count_and_the_papers_12_46m():
    """Fs-SRGAN (E 1 + G' 16) and FA+Fs-SRGAN (E 2 + G' 15): 12,418,371 parameters, as the official code builds them
    (``model_ex`` has its trunk conv ``LR_conv`` commented out and ``load_network`` loads the released
    FsSRGAN_E.pth strictly into it). The paper's "12.46M" is that plus one 64->64 conv (36,928): 12,455,299, i.e.
    the paper counted E with the trunk conv its released code no longer has (experiments/fasrgan/README.md)."""
    with torch.device("meta"):
        fs = trainable(SharedExtractor(num_block=1)) + trainable(RRDBNet(in_channels=64, num_block=16))
        fa_fs = trainable(SharedExtractor(num_block=2)) + trainable(RRDBNet(in_channels=64, num_block=15))
        trunk_conv = trainable(nn.Conv2d(64, 64, 3))
    assert fs == fa_fs == 12_418_371
    assert round((fs + trunk_conv) / 1e6, 2) == 12.46 != round(fs / 1e6, 2)


def test_pesr_mean_shift_is_trainable_and_edsr_is_frozen():
    with torch.device("meta"):
        pesr = EDSR(256, 32, 0.1, trainable_mean_shift=True)
        edsr = EDSR(256, 32, 0.1)
    assert trainable(pesr) == 43_089_923 + 24
    assert not edsr.sub_mean.weight.requires_grad and pesr.add_mean.bias.requires_grad


@pytest.mark.parametrize("scale", [2, 4])
def test_rrdbnet_tiny_shapes_and_keys(scale):
    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=scale)
    assert net(torch.rand(2, 3, 12, 10)).shape == (2, 3, 12 * scale, 10 * scale)
    keys = set(net.state_dict())
    assert {
        "conv_first.weight",
        "body.0.rdb3.conv5.bias",
        "conv_body.weight",
        "conv_up1.weight",
        "conv_hr.weight",
        "conv_last.bias",
    } <= keys
    assert ("conv_up2.weight" in keys) == (scale == 4)


def test_rrdbnet_rejects_unsupported_scale():
    with pytest.raises(ValueError, match="scale"):
        RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=3)


def test_rrdbnet_init_scale_applies_to_every_conv():
    torch.manual_seed(0)
    small = RRDBNet(num_feat=16, num_block=1, num_grow_ch=8, init_scale=0.1)
    torch.manual_seed(0)
    full = RRDBNet(num_feat=16, num_block=1, num_grow_ch=8, init_scale=1.0)
    for name in ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_up1.weight", "conv_last.weight"):
        assert torch.allclose(small.state_dict()[name], 0.1 * full.state_dict()[name])
    assert torch.count_nonzero(small.conv_hr.bias) == 0


def test_default_init_weights_sets_batchnorm_and_bias():
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    nn.init.constant_(seq[1].weight, 5.0)
    default_init_weights(seq, 0.5)
    assert torch.all(seq[1].weight == 1) and torch.all(seq[0].bias == 0) and torch.all(seq[2].bias == 0)


def test_shared_extractor_keeps_size():
    extractor = SharedExtractor(num_feat=8, num_block=2, num_grow_ch=4)
    assert extractor(torch.rand(2, 3, 9, 11)).shape == (2, 8, 9, 11)


def test_feature_sharing_generator_reads_extractor_features():
    extractor = SharedExtractor(num_feat=8, num_block=1, num_grow_ch=4)
    generator = RRDBNet(in_channels=8, num_feat=8, num_block=1, num_grow_ch=4)
    assert generator(extractor(torch.rand(1, 3, 8, 8))).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("prelu", ["shared", "channel"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srresnet_tiny_shapes(prelu, scale):
    net = SRResNet(num_feat=8, num_block=1, scale=scale, prelu=prelu)
    assert net(torch.rand(2, 3, 8, 6)).shape == (2, 3, 8 * scale, 6 * scale)


def test_srresnet_rejects_unknown_prelu():
    with pytest.raises(ValueError, match="prelu"):
        SRResNet(prelu="per-pixel")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_tiny_shapes_and_official_keys(scale):
    net = EDSR(num_feat=8, num_block=2, scale=scale)
    assert net(torch.rand(1, 3, 7, 5)).shape == (1, 3, 7 * scale, 5 * scale)
    keys = set(net.state_dict())
    assert {
        "sub_mean.weight",
        "head.0.weight",
        "body.0.body.0.weight",
        "body.1.body.2.bias",
        "body.2.weight",
        "tail.0.0.weight",
        "tail.1.weight",
        "add_mean.bias",
    } <= keys
    assert ("tail.0.2.weight" in keys) == (scale == 4)


def test_edsr_interface_is_unit_range():
    """rgb_range only lives inside: a constant [0,1] image through a net with zero body/tail maps to the mean."""
    net = EDSR(num_feat=8, num_block=1, scale=2)
    with torch.no_grad():
        for p in list(net.head.parameters()) + list(net.body.parameters()) + list(net.tail.parameters()):
            p.zero_()
    out = net(torch.full((1, 3, 4, 4), 0.5))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor(MeanShift.DIV2K_MEAN), atol=1e-6)


def test_load_x2_into_x4_copies_body_and_skips_tail():
    torch.manual_seed(0)
    x2, x4 = EDSR(num_feat=8, num_block=2, scale=2), EDSR(num_feat=8, num_block=2, scale=4)
    fresh = x4.tail[0][2].weight.detach().clone()
    report = load_x2_into_x4(x4, x2.state_dict())
    assert torch.equal(x4.body[1].body[2].weight, x2.body[1].body[2].weight)
    assert torch.equal(x4.head[0].weight, x2.head[0].weight)
    assert torch.equal(x4.tail[0][2].weight, fresh)  # the second x4 up-sampling conv keeps its init
    assert report.kept == ["tail.0.2.weight", "tail.0.2.bias"]
    assert "body.0.body.0.weight" in report.loaded and report.skipped == []


def test_load_x2_into_x4_skips_tail_of_another_width_and_fails_outside_it():
    x4 = EDSR(num_feat=8, num_block=1, scale=4)
    state = EDSR(num_feat=8, num_block=1, scale=2).state_dict()
    state["tail.1.weight"] = torch.zeros(3, 8, 5, 5)
    report = load_x2_into_x4(x4, state)
    assert report.skipped == ["tail.1.weight"] and "tail.1.weight" in report.kept
    with pytest.raises(CheckpointMismatchError, match="body.0.body.0.weight"):
        load_x2_into_x4(x4, EDSR(num_feat=16, num_block=1, scale=2).state_dict())


TINY_DISCRIMINATORS = [
    (lambda: VGGStyleDiscriminator(in_channels=3, num_feat=8, input_size=32), 3, 32),
    (lambda: VGGStyleDiscriminator(in_channels=3, num_feat=4, input_size=256), 3, 256),
    (lambda: SRGANDiscriminator(in_channels=3, num_feat=8, input_size=32), 3, 32),
    (lambda: EDSRDiscriminator(in_channels=3, num_feat=8, input_size=32), 3, 32),
    (lambda: FsVGGDiscriminator(in_channels=8, num_feat=8, input_size=64), 8, 64),
]


@pytest.mark.parametrize("build, channels, size", TINY_DISCRIMINATORS)
def test_discriminator_logits_shape(build, channels, size):
    assert build()(torch.rand(2, channels, size, size)).shape == (2, 1)


@pytest.mark.parametrize("build, channels, size", TINY_DISCRIMINATORS)
def test_discriminator_rejects_other_sizes(build, channels, size):
    with pytest.raises(ValueError, match=f"expects {size}x{size} inputs, got {size + 16}x{size + 16}.*data.patch_size"):
        build()(torch.rand(2, channels, size + 16, size + 16))


def test_vgg_discriminator_stage_count_follows_basicsr_and_fs():
    assert VGGStyleDiscriminator(num_feat=4, input_size=128).num_stages == 5
    assert VGGStyleDiscriminator(num_feat=4, input_size=256).num_stages == 6  # BasicSR's conv5_0/conv5_1
    assert FsVGGDiscriminator(in_channels=4, num_feat=4, input_size=192).num_stages == 6  # 192 -> 3x3
    with pytest.raises(ValueError, match="multiple of 32"):
        VGGStyleDiscriminator(input_size=100)


@pytest.mark.parametrize("in_channels", [3, 8])
def test_unet_returns_global_and_map_logits(in_channels):
    unet = UNetDiscriminator(in_channels=in_channels, out_channels=3, input_size=32, num_feat=4)
    global_logits, map_logits = unet(torch.rand(2, in_channels, 32, 32))
    assert global_logits.shape == (2, 1)
    assert map_logits.shape == (2, 3, 32, 32)


def test_unet_rejects_other_sizes_and_keeps_bn_eps_quirk():
    unet = UNetDiscriminator(input_size=16, num_feat=4)
    with pytest.raises(ValueError, match="expects 16x16 inputs"):
        unet(torch.rand(1, 3, 32, 32))
    assert unet.inc[1].eps == 4.0 and unet.inc[4].eps == 1e-5 and unet.down1[1][1].eps == 8.0
    assert UNetDiscriminator(input_size=16, num_feat=4, bn_eps_quirk=False).inc[1].eps == 1e-5


def test_bicubic_upsampler_matches_imresize():
    imresize = pytest.importorskip("gansr.data.imresize").imresize
    from gansr.archs.bicubic import BicubicUpsampler

    lr = torch.rand(2, 3, 6, 5)
    up = BicubicUpsampler(scale=4)
    out = up(lr)
    assert out.shape == (2, 3, 24, 20) and torch.equal(out, imresize(lr, 4))
    assert list(up.parameters()) == []
