"""LPIPS wrapper: weights plumbing with a random AlexNet; known values only when ImageNet AlexNet is on disk."""
import urllib.error

import pytest
import torch
import torchvision

from gansr.data.image_io import read_image, to_tensor
from gansr.metrics.lpips_metric import (
    ALEXNET_FILE,
    LPIPSDistance,
    lpips_linear_weights_path,
)
from gansr.utils.weights import MissingWeightError, torch_hub_checkpoints_dir

ALEXNET_PRESENT = (torch_hub_checkpoints_dir() / ALEXNET_FILE).is_file()
needs_alexnet = pytest.mark.skipif(
    not ALEXNET_PRESENT,
    reason=f"needs torchvision's ImageNet {ALEXNET_FILE} in {torch_hub_checkpoints_dir()} (offline machine)",
)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch.hub dir -> an empty tmp folder; any download attempt fails as offline."""
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    torch.hub.set_dir(str(tmp_path))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path


def _load(shared_data, name):
    return to_tensor(read_image(shared_data / "fixtures" / "lpips_examples" / f"{name}.png"))[None]


@pytest.mark.parametrize("version", ["0.0", "0.1"])
def test_linear_weights_ship_with_lpips(version):
    state = torch.load(lpips_linear_weights_path(version), map_location="cpu", weights_only=True)
    assert sorted(state) == [f"lin{i}.model.1.weight" for i in range(5)]


def test_random_backbone_plumbing(shared_data):
    torch.manual_seed(0)
    metric = LPIPSDistance("0.1", pretrained_backbone=False)
    ref, p0, p1 = (_load(shared_data, n) for n in ("ex_ref", "ex_p0", "ex_p1"))
    d = metric(torch.cat([p0, p1]), torch.cat([ref, ref]))
    assert d.shape == (2,) and (d > 0).all() and torch.isfinite(d).all()
    assert metric(ref, ref).abs().max() < 1e-6
    # the linear layers are the shipped ones (non-negative), not a random init
    shipped = torch.load(lpips_linear_weights_path("0.1"), map_location="cpu", weights_only=True)
    assert torch.equal(metric.net.lin0.model[1].weight, shipped["lin0.model.1.weight"])
    assert not any(p.requires_grad for p in metric.parameters())


def test_versions_differ_and_eval_mode_sticks():
    torch.manual_seed(0)
    v0 = LPIPSDistance("0.0", pretrained_backbone=False)
    torch.manual_seed(0)
    v1 = LPIPSDistance("0.1", pretrained_backbone=False)
    x, y = torch.rand(2, 1, 3, 32, 32).unbind(0)
    assert not torch.allclose(v0(x, y), v1(x, y))
    v1.train()
    assert not v1.training and not v1.net.training
    with pytest.raises(ValueError, match="0.2"):
        LPIPSDistance("0.2", pretrained_backbone=False)
    with pytest.raises(ValueError, match=r"\(1, 3, 32, 32\).*\(1, 3, 16, 16\)"):
        v1(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 16, 16))


def test_alexnet_state_dict_is_mapped_into_lpips(tmp_path):
    """Any torchvision AlexNet checkpoint file is copied layer by layer into lpips' slices."""
    torch.manual_seed(1)
    features = torchvision.models.alexnet().state_dict()
    torch.save(features, tmp_path / ALEXNET_FILE)
    metric = LPIPSDistance("0.1", backbone_path=tmp_path / ALEXNET_FILE)
    trunk = metric.net.net
    assert torch.equal(getattr(trunk.slice1, "0").weight, features["features.0.weight"])
    assert torch.equal(getattr(trunk.slice5, "10").bias, features["features.10.bias"])


def test_missing_alexnet_names_file_and_folder(empty_hub):
    with pytest.raises(MissingWeightError) as info:
        LPIPSDistance("0.1", pretrained_backbone=True)
    message = str(info.value)
    assert ALEXNET_FILE in message and str(empty_hub / "checkpoints") in message and "\n" not in message


@needs_alexnet
def test_lpips_project_example_values(shared_data):
    """richzhang/PerceptualSimilarity ``test_network.py``: alex v0.1 gives (0.722, 0.138) for ex_p0, ex_p1."""
    metric = LPIPSDistance("0.1")
    ref, p0, p1 = (_load(shared_data, n) for n in ("ex_ref", "ex_p0", "ex_p1"))
    d = metric(torch.cat([p0, p1]), torch.cat([ref, ref]))
    assert d.tolist() == pytest.approx([0.722, 0.138], abs=2e-3)


@needs_alexnet
def test_lpips_iqa_pytorch_calibration(shared_data):
    """IQA-PyTorch ResultsCalibra: official LPIPS (alex v0.1) on TID2013 distorted vs reference images."""
    expected = {"I03": 0.7237, "I04": 0.2572, "I06": 0.0508, "I08": 0.0520, "I19": 0.4253}
    metric = LPIPSDistance("0.1")
    root = shared_data / "fixtures" / "iqa_tid2013"
    for name, value in expected.items():
        dist, ref = (to_tensor(read_image(root / sub / f"{name}.bmp"))[None] for sub in ("dist", "ref"))
        assert metric(dist, ref).item() == pytest.approx(value, abs=1.5e-3), name
