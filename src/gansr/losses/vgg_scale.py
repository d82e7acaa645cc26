"""The factor between two VGG19 conventions' feature magnitudes (SRGAN's "rescaled by 1/12.75"; docs/methods.md).

SRGAN's 1/12.75 (Ledig et al., Sec. 3.2) and SRGAN-TF's ``vgg_scaling 0.0061`` were tuned on the Caffe / TF-slim
VGG19 fed 0-255 RGB with the ImageNet mean subtracted (``caffe_input``). gansr's perceptual loss runs torchvision's
VGG19 on ImageNet-normalised [0,1] input (``torchvision_input``): other weights, other input units, so its conv5_4
features have another magnitude. :func:`feature_scale` measures the factor ``s`` with
``s * phi_torchvision ~ phi_reference`` in the quantity the content loss sees, the feature DIFFERENCE between an
HR image and an SR-like image of it:

    s = sqrt( sum_pairs ||phi_ref(a) - phi_ref(b)||^2 / sum_pairs ||phi(a) - phi(b)||^2 )

``loss.perceptual.feature_scale=s`` then makes the SRGAN content loss (1/12.75 on the scaled features) the size
the paper tuned. ``benchmarks/srgan_vgg_scale.py`` runs it with the real weights; it needs both weight files.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch
from torch import nn

CAFFE_MEAN_255 = (123.68, 116.78, 103.94)  # TF-slim vgg_preprocessing _R_MEAN, _G_MEAN, _B_MEAN (RGB)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: VGG19 conv names in order and their index in torchvision's ``vgg19().features``
VGG19_CONVS = [f"conv{b}_{n}" for b, count in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for n in range(1, count + 1)]
VGG19_FEATURE_INDEX = dict(zip(VGG19_CONVS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)))


def _per_channel(values, x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)


def caffe_input(x: torch.Tensor) -> torch.Tensor:
    """[0,1] RGB ``(B,3,H,W)`` -> 0-255 RGB minus the ImageNet mean (TF-slim / Caffe VGG19, SRGAN-TF)."""
    return 255.0 * x - _per_channel(CAFFE_MEAN_255, x)


def torchvision_input(x: torch.Tensor) -> torch.Tensor:
    """[0,1] RGB ``(B,3,H,W)`` -> ImageNet-normalised (torchvision VGG19, gansr's perceptual loss)."""
    return (x - _per_channel(IMAGENET_MEAN, x)) / _per_channel(IMAGENET_STD, x)


@torch.no_grad()
def feature_scale(reference: nn.Module, reference_input: Callable[[torch.Tensor], torch.Tensor], model: nn.Module,
                  model_input: Callable[[torch.Tensor], torch.Tensor],
                  pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """``s`` such that ``s * model(model_input(.))`` has ``reference(reference_input(.))``'s feature-difference size.

    Args:
        reference, model: feature extractors ``(B,3,H,W) -> (B,C,h,w)`` (e.g. VGG19 ``features[:36]``, conv5_4
            after its ReLU), without their own input normalisation.
        reference_input, model_input: [0,1] RGB -> each network's input convention.
        pairs: ``(a, b)`` image batches in [0,1], e.g. (HR, bicubic-upsampled LR).
    """
    num = den = 0.0
    for a, b in pairs:
        num += (reference(reference_input(a)) - reference(reference_input(b))).double().square().sum().item()
        den += (model(model_input(a)) - model(model_input(b))).double().square().sum().item()
    if den == 0.0:
        raise ValueError("feature_scale: the model's features do not differ on any pair; give pairs of different images")
    return float(np.sqrt(num / den))


def tf_slim_vgg19_state_dict(variables: Mapping[str, np.ndarray], prefix: str = "vgg_19") -> dict[str, torch.Tensor]:
    """TF-slim ``vgg_19`` checkpoint variables (``vgg_19/conv1/conv1_1/weights`` HWIO, ``.../biases``) -> a state
    dict with torchvision's ``features.<i>.weight`` (OIHW) / ``.bias`` keys for the 16 convolutions."""
    state = {}
    for name in VGG19_CONVS:
        block = name.split("_")[0]
        weights = variables[f"{prefix}/{block}/{name}/weights"]
        index = VGG19_FEATURE_INDEX[name]
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(np.transpose(weights, (3, 2, 0, 1))))
        state[f"features.{index}.bias"] = torch.from_numpy(np.asarray(variables[f"{prefix}/{block}/{name}/biases"]))
    return state
