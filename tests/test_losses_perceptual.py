"""VGG19 perceptual loss with a random VGG (no ImageNet weights offline; docs/methods.md §2.4, 5, 8.3)."""

import logging
import urllib.error

import pytest
import torch
from torch import nn

from gansr.losses.perceptual import (
    PerceptualLoss,
    VGGFeatureExtractor,
    vgg19_layer_index,
    vgg19_weights_available,
)
from gansr.utils.weights import MissingWeightError


@pytest.fixture(scope="module")
def loss_fn():
    torch.manual_seed(0)
    return PerceptualLoss(weight=1.0, criterion="l1", pretrained=False)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch.hub dir -> an empty tmp folder (restored afterwards); any download attempt fails offline."""
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # monkeypatch restores the original value at teardown
    torch.hub.set_dir(str(tmp_path))
    calls = []

    def offline(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path, calls


def test_layer_indices_before_and_after_activation():
    assert vgg19_layer_index("conv5_4", before_activation=True) == 35
    assert vgg19_layer_index("conv5_4", before_activation=False) == 36
    assert vgg19_layer_index("conv2_2", before_activation=True) == 8
    with pytest.raises(ValueError, match="conv5_5"):
        vgg19_layer_index("conv5_5", True)


def test_extractor_module_counts_and_output(caplog):
    with caplog.at_level(logging.WARNING):
        pre = VGGFeatureExtractor("conv5_4", before_activation=True, pretrained=False)
    assert "RANDOMLY" in caplog.text  # random init is never silent
    post = VGGFeatureExtractor("conv5_4", before_activation=False, pretrained=False)
    assert len(pre.features) == 35 and isinstance(pre.features[-1], nn.Conv2d)
    assert len(post.features) == 36 and isinstance(post.features[-1], nn.ReLU)
    assert sum(isinstance(m, nn.Conv2d) for m in pre.features) == 16
    x = torch.rand(1, 3, 32, 32)
    assert pre(x).shape == (1, 512, 2, 2)
    assert (post(x) >= 0).all() and (pre(x) < 0).any()


def test_frozen_and_stays_in_eval(loss_fn):
    assert all(not p.requires_grad for p in loss_fn.parameters())
    wrapper = nn.Sequential(loss_fn)
    wrapper.train()
    assert not loss_fn.vgg.training
    assert not [k for k in loss_fn.state_dict() if k.endswith(("mean", "std"))]  # normalisation not saved


def test_zero_for_identical_positive_otherwise(loss_fn):
    torch.manual_seed(1)
    hr = torch.rand(2, 3, 32, 32)
    assert loss_fn(hr.clone(), hr).item() == 0.0
    assert loss_fn(torch.rand(2, 3, 32, 32), hr).item() > 0.0


def test_gradients_reach_sr_only(loss_fn):
    torch.manual_seed(2)
    sr = torch.rand(1, 3, 32, 32, requires_grad=True)
    hr = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss_fn(sr, hr).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert hr.grad is None  # HR features under no_grad
    assert all(p.grad is None for p in loss_fn.parameters())


def small_loss(criterion, weight=2.0, feature_scale=0.5):
    torch.manual_seed(0)  # same random VGG for every criterion
    return PerceptualLoss(weight, "conv2_2", True, criterion, feature_scale, pretrained=False)


def test_criteria_and_srgan_normalisation():
    torch.manual_seed(3)
    sr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    losses = {c: small_loss(c) for c in ("l1", "mse", "srgan")}
    diff = 0.5 * (losses["l1"].vgg(sr) - losses["l1"].vgg(hr))  # conv2_2: (2,128,8,8)
    assert diff.shape == (2, 128, 8, 8)
    assert losses["l1"](sr, hr).item() == pytest.approx(2.0 * diff.abs().mean().item(), rel=1e-5)
    assert losses["mse"](sr, hr).item() == pytest.approx(2.0 * diff.square().mean().item(), rel=1e-5)
    # SRGAN: squared distance of features/12.75, channels summed, / (W·H), mean over the batch
    srgan = 2.0 * ((diff / 12.75).square().sum(dim=(1, 2, 3)) / (8 * 8)).mean()
    assert losses["srgan"](sr, hr).item() == pytest.approx(srgan.item(), rel=1e-5)
    # the factor-C trap of docs/methods.md §5 (512 at conv5_4): srgan = mse · C / 12.75²
    ratio = losses["srgan"](sr, hr) / losses["mse"](sr, hr)
    assert ratio.item() == pytest.approx(128 / 12.75**2, rel=1e-5)
    with pytest.raises(ValueError, match="criterion"):
        PerceptualLoss(criterion="l2", pretrained=False)


def test_pretrained_missing_weights_raise_offline(empty_hub):
    hub, calls = empty_hub
    assert not vgg19_weights_available()
    with pytest.raises(MissingWeightError) as info:
        PerceptualLoss(pretrained=True)
    message = str(info.value)
    assert calls and calls[0].endswith("vgg19-dcbb9e9d.pth")  # the real download was attempted
    assert "vgg19-dcbb9e9d.pth" in message and str(hub / "checkpoints") in message
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert "loss.perceptual.pretrained=false" in message and "\n" not in message
    with pytest.raises(MissingWeightError, match=r"vgg19-dcbb9e9d\.pth"):
        PerceptualLoss(pretrained=True, weights_path=hub / "nowhere.pth")


def test_pretrained_loads_file_from_hub_dir(empty_hub, loss_fn):
    hub, calls = empty_hub
    (hub / "checkpoints").mkdir()
    # a stand-in for the torchvision file: same keys (features.* up to conv5_4) and shapes
    torch.save({f"features.{k}": v for k, v in loss_fn.vgg.features.state_dict().items()}, hub / "checkpoints" / "vgg19-dcbb9e9d.pth")
    assert vgg19_weights_available()
    loaded = VGGFeatureExtractor("conv5_4", before_activation=False, pretrained=True)
    assert not calls
    assert torch.equal(loaded.features[34].weight, loss_fn.vgg.features[34].weight)
    assert vgg19_weights_available(hub / "checkpoints")  # a folder holding the file also works


def test_frozen_vgg_stays_out_of_checkpoints(loss_fn):
    """The frozen VGG (~80 MB) is rebuilt from its weights file, so module state dicts do not carry it, and loading
    such a state dict back still works under strict=True."""
    assert not any(k.startswith("vgg.features.") for k in loss_fn.state_dict())
    container = torch.nn.ModuleDict({"perceptual": loss_fn})
    assert not container.load_state_dict(container.state_dict(), strict=True).missing_keys
