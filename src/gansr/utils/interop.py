"""Weight files of architectures gansr did not write (Real-ESRGAN, SwinIR, HAT, official ESRGAN, ...), detected
from their tensors by spandrel (the architecture detector of chaiNNer) and run as a gansr up-scaler
(docs/inference.md, "Public weight files").

Security: spandrel's own file loader unpickles with a restricted unpickler of its own; gansr does not use it. The
file is read by :func:`gansr.utils.checkpoint.safe_load` (``torch.load(weights_only=True)``, or safetensors), and
only the resulting dict of tensors is handed to spandrel's registry (``MAIN_REGISTRY.load``), which picks the
architecture from the key names and shapes: nothing in the file names code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from gansr.utils.errors import GansrError


class UnrecognisedWeightsError(GansrError, ValueError):
    """No architecture gansr or spandrel knows fits the tensors of a weight file (or it is not an RGB SR network)."""


def _weights(checkpoint: Mapping, use_ema: bool) -> Mapping:
    """The tensors of a loaded weight file: BasicSR's ``params_ema`` (when ``use_ema``) or ``params``, else the dict
    itself (spandrel unwraps ``state_dict``/``model``/``net`` and ``module.`` prefixes itself)."""
    order = ("params_ema", "params") if use_ema else ("params", "params_ema")
    for key in order:
        if isinstance(checkpoint.get(key), Mapping):
            return checkpoint[key]
    return checkpoint


class ForeignGenerator(nn.Module):
    """``lr (B,3,h,w) in [0,1] -> sr (B,3,s*h,s*w) in [0,1]`` through a network spandrel built.

    The call is spandrel's (``ImageModelDescriptor.__call__``): the input is padded to the network's size
    requirements (e.g. SwinIR's window multiple) and the output cropped back and clamped to [0,1]; gansr clamps
    every output before quantising it anyway, so the scores are those of the unclamped network.

    Attributes: ``network`` (the spandrel-built module), ``scale``, ``architecture`` (spandrel's name, e.g. "ESRGAN").
    """

    def __init__(self, descriptor) -> None:
        super().__init__()
        self.descriptor = descriptor  # not a Module: .to()/.eval() reach its network through self.network
        self.network = descriptor.model
        self.scale = int(descriptor.scale)
        self.architecture = descriptor.architecture.name

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.descriptor(lr).clone()  # clone: a normal tensor (spandrel runs under inference_mode)

    def extra_repr(self) -> str:
        return f"architecture={self.architecture}, scale={self.scale}"


def load_foreign_generator(checkpoint: Mapping, source: str | Path, use_ema: bool = True) -> ForeignGenerator:
    """The RGB super-resolution network spandrel detects in ``checkpoint`` (a dict loaded with
    :func:`gansr.utils.checkpoint.safe_load`), weights loaded, in eval mode.

    Raises:
        UnrecognisedWeightsError: spandrel knows no architecture with these tensors, fails to build the one it
            detected, or the network is not an RGB up-scaler (a denoiser, a grayscale or inpainting model).
    """
    try:
        import spandrel
    except ImportError:
        raise UnrecognisedWeightsError(
            f"{source}: not a gansr generator file, and spandrel (which detects public SR architectures) is not "
            "installed: pip install spandrel"
        ) from None
    weights = _weights(checkpoint, use_ema)
    try:
        descriptor = spandrel.MAIN_REGISTRY.load(dict(weights))
    except spandrel.UnsupportedModelError:
        names = [k for k in weights if isinstance(weights[k], torch.Tensor)]
        raise UnrecognisedWeightsError(
            f"{source}: not a gansr generator file (no 'config' with the architecture) and no architecture spandrel "
            f"{spandrel.__version__} knows fits its {len(names)} tensors (first: {', '.join(names[:3]) or 'none'}). "
            f"If it is one of gansr's architectures, convert it naming that: gansr-convert --checkpoint {source} "
            "--arch <rrdbnet|edsr|edsr_baseline|pesr|srresnet|msrresnet> --out G.pth"
        ) from None
    except (KeyError, ValueError, RuntimeError, AssertionError, IndexError, TypeError) as err:
        detail = str(err).strip().splitlines()[-1][:160] if str(err).strip() else ""
        raise UnrecognisedWeightsError(
            f"{source}: spandrel took it for a network it could not build ({type(err).__name__}: {detail}); the file "
            "may be damaged or of a variant spandrel does not support"
        ) from None
    name = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale < 2 or descriptor.input_channels != 3 \
            or descriptor.output_channels != 3:
        raise UnrecognisedWeightsError(
            f"{source}: spandrel detects a {name} network ({descriptor.purpose}, x{descriptor.scale}, "
            f"{descriptor.input_channels} -> {descriptor.output_channels} channels); gansr up-scales RGB images "
            "by 2 or more"
        )
    return ForeignGenerator(descriptor).eval()
