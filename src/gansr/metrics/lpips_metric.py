"""LPIPS (Zhang et al., CVPR 2018) through the ``lpips`` package: AlexNet trunk + learned linear layers.

Versions (docs/methods.md §1.8, 6 row 14): ``"0.1"`` is the current ``lpips`` default; ``"0.0"`` is the pre-v0.1 release
(no input scaling layer, other linear weights) that FASRGAN's ``Test_scripts/LPIPS`` and in-training LPIPS used.
Inputs are RGB in [0, 1] and are mapped to [-1, 1], the range ``lpips`` expects.

Weights:
  * linear layers ``lpips/weights/v{version}/alex.pth`` ship inside the ``lpips`` wheel;
  * the AlexNet trunk is torchvision's ImageNet ``alexnet-owt-7be5be79.pth``, looked for in
    :func:`gansr.utils.weights.torch_hub_checkpoints_dir` (where torchvision keeps it) and downloaded from
    ``download.pytorch.org`` when missing (announced; ``gansr-fetch-weights`` fetches it up front); offline this raises :class:`~gansr.utils.weights.MissingWeightError`.
    ``pretrained_backbone=False`` keeps a random trunk (tests, demos): the numbers are then meaningless.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from gansr.utils.weights import (
    WEIGHT_FILES,
    MissingWeightError,
    fetch_weight,
    torch_hub_checkpoints_dir,
)

__all__ = ["ALEXNET_FILE", "ALEXNET_URL", "LPIPSDistance", "lpips_linear_weights_path"]

ALEXNET_FILE = WEIGHT_FILES["alexnet"].filename
ALEXNET_URL = WEIGHT_FILES["alexnet"].url
ALEXNET_SHA256_PREFIX = WEIGHT_FILES["alexnet"].sha256  # torchvision names carry the first 8 hex digits of the sha256
VERSIONS = ("0.0", "0.1")


def lpips_linear_weights_path(version: str) -> Path:
    """The linear-layer weights shipped with the ``lpips`` package for AlexNet and ``version``."""
    import lpips  # imported where used: ``import gansr.metrics`` stays light

    return Path(lpips.__file__).parent / "weights" / f"v{version}" / "alex.pth"


class LPIPSDistance(nn.Module):
    """LPIPS distance per image pair: ``sr (B,3,H,W), hr (B,3,H,W)`` in [0,1] -> ``(B,)`` float32, >= 0.

    Args:
        version: ``"0.1"`` (lpips default) or ``"0.0"`` (FASRGAN's tables).
        pretrained_backbone: load torchvision's ImageNet AlexNet (``True``) or keep a random trunk (tests).
        backbone_path: explicit path of ``alexnet-owt-7be5be79.pth`` (else the torch hub checkpoints folder).
    The network is frozen and always in eval mode.
    """

    def __init__(
        self,
        version: str = "0.1",
        pretrained_backbone: bool = True,
        backbone_path: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if version not in VERSIONS:
            raise ValueError(f"LPIPS version must be one of {VERSIONS}, got {version!r}")
        self.version = version
        import lpips

        # pnet_rand=True: build AlexNet without torchvision's own download; pretrained=False: load the linear
        # layers below with weights_only=True instead of lpips' plain torch.load.
        with warnings.catch_warnings():  # lpips still calls torchvision's deprecated alexnet(pretrained=False)
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
            self.net = lpips.LPIPS(net="alex", version=version, pretrained=False, pnet_rand=True, verbose=False)
        linear = torch.load(lpips_linear_weights_path(version), map_location="cpu", weights_only=True)
        self.net.load_state_dict(linear, strict=False)
        if pretrained_backbone:
            try:
                path = fetch_weight(ALEXNET_FILE, ALEXNET_URL, sha256=ALEXNET_SHA256_PREFIX,
                                    cache_dir=torch_hub_checkpoints_dir(), local_path=backbone_path)
            except MissingWeightError as err:
                raise MissingWeightError(f"LPIPS: {err}; or drop lpips from the metrics", path=err.path, url=err.url,
                                         reason=err.reason) from None
            self._load_alexnet(path)
        self.net.requires_grad_(False)
        self.net.eval()

    def _load_alexnet(self, path: Path) -> None:
        """Copy torchvision AlexNet ``features.{i}.*`` into lpips' ``slice{k}.{i}.*`` (same layer indices)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        trunk = self.net.net
        mapped = {name: state[f"features.{name.split('.', 1)[1]}"] for name in trunk.state_dict()}
        trunk.load_state_dict(mapped)

    def train(self, mode: bool = True) -> LPIPSDistance:
        """Stays in eval mode (dropout of the linear layers off) whatever the parent module does."""
        return super().train(False)

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        if sr.shape != hr.shape or sr.ndim != 4 or sr.shape[1] != 3:
            raise ValueError(
                f"LPIPS expects two RGB batches (B,3,H,W) of equal shape, got sr {tuple(sr.shape)} and hr {tuple(hr.shape)}"
            )
        return self.net(sr * 2 - 1, hr * 2 - 1).flatten()
