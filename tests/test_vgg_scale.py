"""gansr.losses.vgg_scale: the VGG feature-scale calibration for SRGAN's 1/12.75 (issue 20 item 2), on random
weights (the real run needs both weight files: benchmarks/srgan_vgg_scale.py)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from gansr.losses.perceptual import VGGFeatureExtractor
from gansr.losses.vgg_scale import (
    VGG19_CONVS,
    caffe_input,
    feature_scale,
    tf_slim_vgg19_state_dict,
    torchvision_input,
)


def random_vgg(zero_bias: bool = False) -> nn.Module:
    torch.manual_seed(0)
    features = VGGFeatureExtractor("conv5_4", before_activation=False, pretrained=False).features.double()
    if zero_bias:
        for m in features:
            if isinstance(m, nn.Conv2d):
                nn.init.zeros_(m.bias)
    return features.eval()


def image_pairs(n: int = 2):
    g = torch.Generator().manual_seed(3)
    return [(torch.rand(1, 3, 32, 32, generator=g, dtype=torch.float64),
             torch.rand(1, 3, 32, 32, generator=g, dtype=torch.float64)) for _ in range(n)]


def test_scaled_last_layer_gives_its_factor():
    """Reference = the model with its last conv (and bias) times 3: conv5_4 after ReLU is exactly 3x -> s = 3."""
    model = random_vgg()
    reference = copy.deepcopy(model)
    with torch.no_grad():
        reference[34].weight.mul_(3.0)
        reference[34].bias.mul_(3.0)
    s = feature_scale(reference, torchvision_input, model, torchvision_input, image_pairs())
    assert s == pytest.approx(3.0, rel=1e-12)


def test_input_convention_enters_the_factor():
    """Without biases VGG is positively homogeneous in its input: feeding 255 x / 2 against x gives s = 127.5."""
    model = random_vgg(zero_bias=True)
    s = feature_scale(model, lambda x: 127.5 * x, model, lambda x: x, image_pairs())
    assert s == pytest.approx(127.5, rel=1e-10)


def test_input_conventions():
    x = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    assert torch.allclose(caffe_input(x)[0, :, 0, 0], torch.tensor([127.5 - 123.68, 127.5 - 116.78, 127.5 - 103.94],
                                                                    dtype=torch.float64))
    assert torch.allclose(torchvision_input(x)[0, :, 0, 0],
                          torch.tensor([(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225],
                                       dtype=torch.float64))


def test_identical_pairs_are_refused():
    model = random_vgg()
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    with pytest.raises(ValueError, match="differ"):
        feature_scale(model, torchvision_input, model, torchvision_input, [(x, x)])


def test_tf_slim_checkpoint_names_map_to_torchvision_layers():
    """HWIO ``vgg_19/convB/convB_N/weights`` -> OIHW ``features.<i>.weight``; loads strictly into VGG19 to conv5_4."""
    target = VGGFeatureExtractor("conv5_4", before_activation=False, pretrained=False).features
    convs = [m for m in target if isinstance(m, nn.Conv2d)]
    rng = np.random.default_rng(0)
    variables = {}
    for name, conv in zip(VGG19_CONVS, convs):
        o, i, h, w = conv.weight.shape
        block = name.split("_")[0]
        variables[f"vgg_19/{block}/{name}/weights"] = rng.standard_normal((h, w, i, o)).astype(np.float32)
        variables[f"vgg_19/{block}/{name}/biases"] = rng.standard_normal(o).astype(np.float32)
    state = tf_slim_vgg19_state_dict(variables)
    target.load_state_dict({k.removeprefix("features."): v for k, v in state.items()}, strict=True)
    hwio = variables["vgg_19/conv3/conv3_2/weights"]
    assert torch.equal(convs[5].weight[7, 2], torch.from_numpy(hwio[:, :, 2, 7]))
