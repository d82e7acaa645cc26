"""VGG19 perceptual (content) loss (docs/methods.md §1.4 step 3, 2.4, 3, 4, 5, 8.1).

Layer per method (docs/methods.md §6 row 12): ESRGAN, FASRGAN, Fs-SRGAN, PESR and EDSR-GAN use conv5_4 BEFORE its
ReLU (torchvision ``vgg19().features[:35]``); SRGAN uses conv5_4 AFTER the ReLU (``features[:36]``).
Inputs are [0,1] RGB, normalised with the ImageNet mean/std before VGG, which is what BasicSR/FASRGAN do on
[0,1] data and what PESR/EDSR's MeanShift does on [0,255] data, so the loss weights carry over unchanged.

Weights: torchvision ``VGG19_Weights.IMAGENET1K_V1`` (``vgg19-dcbb9e9d.pth``), looked for at ``weights_path``
or in ``torch.hub.get_dir()/checkpoints``, downloaded (announced) if missing, else ``MissingWeightError``;
``gansr-fetch-weights`` fetches it up front.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from gansr.utils.weights import WEIGHT_FILES, MissingWeightError, fetch_weight, torch_hub_checkpoints_dir

log = logging.getLogger(__name__)

VGG19_URL = WEIGHT_FILES["vgg19"].url  # torchvision VGG19_Weights.IMAGENET1K_V1 (tested equal)
VGG19_FILE = WEIGHT_FILES["vgg19"].filename
VGG19_SHA256_PREFIX = WEIGHT_FILES["vgg19"].sha256  # torchvision/torch.hub naming: "dcbb9e9d"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SRGAN_FEATURE_SCALE = 1 / 12.75  # SRGAN Sec. 3.2: "VGG feature maps were rescaled by a factor of 1/12.75"
CRITERIA = ("l1", "mse", "srgan")


def vgg19_layer_index(layer: str, before_activation: bool) -> int:
    """Number of ``vgg19().features`` modules to keep so the output is ``layer`` (``"conv{block}_{n}"``).

    conv5_4: 35 before the ReLU, 36 after it. Raises ValueError listing the valid names.
    """
    names, block, conv, index = [], 1, 0, 0  # index: position of the next module in vgg19().features
    for v in cfgs["E"]:  # ints are Conv2d + ReLU (two modules), "M" is one MaxPool2d
        if v == "M":
            block, conv, index = block + 1, 0, index + 1
            continue
        conv += 1
        names.append(f"conv{block}_{conv}")
        if names[-1] == layer:
            return index + 1 if before_activation else index + 2
        index += 2
    raise ValueError(f"unknown VGG19 layer {layer!r}; choose one of {', '.join(names)}")


def vgg19_weights_path(weights_path: str | Path | None = None) -> Path:
    """Where the ImageNet VGG19 weights are looked for: ``weights_path`` (a file, or a folder holding
    ``vgg19-dcbb9e9d.pth``), else ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``."""
    if weights_path is None:
        return torch_hub_checkpoints_dir() / VGG19_FILE
    path = Path(weights_path).expanduser()
    return path / VGG19_FILE if path.is_dir() else path


def vgg19_weights_available(weights_path: str | Path | None = None) -> bool:
    """True if the VGG19 weights file is already on disk (no download attempted); the demo uses this to pick
    ``pretrained=False`` offline."""
    return vgg19_weights_path(weights_path).is_file()


def load_vgg19_state_dict(weights_path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The torchvision VGG19 ImageNet state dict (keys ``features.*``, ``classifier.*``).

    Raises ``MissingWeightError`` (file, folder, URL) when the file is absent and cannot be downloaded.
    """
    try:
        path = fetch_weight(
            VGG19_FILE,
            VGG19_URL,
            sha256=VGG19_SHA256_PREFIX,
            cache_dir=torch_hub_checkpoints_dir(),
            local_path=weights_path,
        )
    except MissingWeightError as err:
        raise MissingWeightError(
            f"{err}; or set loss.perceptual.pretrained=false to use a randomly initialised VGG (tests only)",
            path=err.path, url=err.url, reason=err.reason,
        ) from None
    return torch.load(path, map_location="cpu", weights_only=True)


class VGGFeatureExtractor(nn.Module):
    """Frozen torchvision VGG19 ``features`` truncated at ``layer``.

    Shape: ``(B,3,H,W)`` in [0,1] -> ``(B,512,H/16,W/16)`` for conv5_x (ImageNet mean/std applied inside).
    Always in eval mode with ``requires_grad=False``. ``pretrained=False`` gives a randomly initialised VGG
    (torchvision's init; for tests and offline demos only, a warning is logged).
    """

    def __init__(
        self,
        layer: str = "conv5_4",
        before_activation: bool = True,
        pretrained: bool = True,
        weights_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.layer, self.before_activation = layer, before_activation
        self.features = make_layers(cfgs["E"])[: vgg19_layer_index(layer, before_activation)]
        if pretrained:
            state, own = load_vgg19_state_dict(weights_path), self.state_dict().keys()
            self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)  # drop later layers
        else:
            log.warning(
                "VGGFeatureExtractor: pretrained=False, using a RANDOMLY initialised VGG19 (%s); perceptual "
                "losses are meaningless for real training (put %s in %s)",
                layer,
                VGG19_FILE,
                vgg19_weights_path(weights_path).parent,
            )
            for m in self.features.modules():
                if isinstance(m, nn.Conv2d):  # torchvision VGG init: keeps activations from vanishing over 16 convs
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        # The frozen VGG (about 80 MB) stays out of checkpoints: it is rebuilt from its weights file.
        self.register_state_dict_post_hook(_drop_frozen_features)
        self.register_load_state_dict_pre_hook(_keep_frozen_features)

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        """Stays in eval mode whatever the parent module asks (frozen feature extractor)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatureExtractor expects (B,3,H,W) RGB in [0,1], got {tuple(x.shape)}")
        return self.features((x - self.mean) / self.std)


def _drop_frozen_features(module: VGGFeatureExtractor, state_dict: dict, prefix: str, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "features.")]:
        del state_dict[key]


def _keep_frozen_features(module: VGGFeatureExtractor, state_dict: dict, prefix: str, *args) -> None:
    for key, value in module.features.state_dict(keep_vars=True).items():
        state_dict.setdefault(prefix + "features." + key, value)


class PerceptualLoss(nn.Module):
    """``weight * criterion(feature_scale·φ(sr), feature_scale·φ(hr))`` with φ a frozen VGG19 layer.

    Shapes: sr, hr ``(B,3,H,W)`` in [0,1] -> scalar (already weighted). HR features under ``torch.no_grad``.

    criterion:
        ``"l1"``: mean over all elements (ESRGAN/FASRGAN/Fs-SRGAN, weight 1).
        ``"mse"``: mean over all elements (PESR weight 50, EDSR-GAN weight 5).
        ``"srgan"``: SRGAN's VGG54 content loss, ``mean_b[ 1/(W·H) Σ_{c,h,w} (φ(sr)/12.75 − φ(hr)/12.75)² ]``,
            i.e. the paper's squared Euclidean distance normalised by the feature-map W·H with channels
            SUMMED (= SRGAN-TF's ``0.0061 · mean_{b,h,w} Σ_c Δ²``). Weight 1 is the paper's ``l_X`` (pair it
            with adversarial weight 1e-3). Equivalent to ``"mse"`` with weight ``512/12.75² ≈ 3.15`` at conv5_x;
            plain ``mse`` with weight 0.006 would be 512× too small (docs/methods.md §5). Use layer conv5_4 with
            ``before_activation=False``. The 1/12.75 was calibrated on the authors' VGG; torchvision's VGG19 on
            ImageNet-normalised input may give features of another magnitude, ``feature_scale`` re-calibrates.
    feature_scale: extra multiplier on both feature maps (all criteria), default 1.
    """

    def __init__(
        self,
        weight: float = 1.0,
        layer: str = "conv5_4",
        before_activation: bool = True,
        criterion: str = "l1",
        feature_scale: float = 1.0,
        pretrained: bool = True,
        weights_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        if criterion not in CRITERIA:
            raise ValueError(f"PerceptualLoss criterion must be one of {CRITERIA}, got {criterion!r}")
        self.weight, self.criterion, self.feature_scale = float(weight), criterion, float(feature_scale)
        self.vgg = VGGFeatureExtractor(layer, before_activation, pretrained, weights_path)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(
                f"PerceptualLoss needs sr and hr of the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
            )
        f_sr = self.feature_scale * self.vgg(sr)
        with torch.no_grad():
            f_hr = self.feature_scale * self.vgg(hr)
        if self.criterion == "l1":
            loss = F.l1_loss(f_sr, f_hr)
        elif self.criterion == "mse":
            loss = F.mse_loss(f_sr, f_hr)
        else:
            loss = ((f_sr - f_hr) * SRGAN_FEATURE_SCALE).square().sum(dim=1).mean()
        return self.weight * loss

    def extra_repr(self) -> str:
        return f"weight={self.weight}, criterion={self.criterion!r}, feature_scale={self.feature_scale}"
