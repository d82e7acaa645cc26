"""Export a gansr generator to files that run without gansr: ONNX, TorchScript and ``torch.export`` (``.pt2``),
each with dynamic batch, height and width (docs/inference.md, "Exporting a generator").

Every file is written atomically (:mod:`gansr.utils.atomic`), then loaded back and run - ONNX by ONNX Runtime,
TorchScript by ``torch.jit.load``, ``.pt2`` by ``torch.export.load`` - on a test image of another size than the
one traced, and compared with the PyTorch network's output: :class:`ExportCheck` holds the max |difference|.

The network exported is the whole path of :class:`gansr.inference.GeneratorPath` (Fs-SRGAN's shared extractor
included): ``lr (B,3,h,w) in [0,1] -> sr (B,3,s*h,s*w)``, not clamped. ONNX and ``.pt2`` need the optional
packages of ``pip install -e .[export]`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gansr.utils.atomic import write_bytes_atomic
from gansr.utils.errors import GansrError

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "pt2": ".pt2"}
INPUT_NAME, OUTPUT_NAME = "lr", "sr"


class ExportError(GansrError, RuntimeError):
    """A network could not be exported, or its exported file does not reproduce it."""


@dataclass
class ExportCheck:
    """One exported file and how closely it reproduces the PyTorch network on the test image."""

    format: str
    path: Path
    max_difference: float
    test_shape: tuple[int, ...]


def sample_image(height: int = 40, width: int = 48) -> torch.Tensor:
    """A natural ``(1,3,height,width)`` test image in [0,1]: scikit-image's astronaut, down-sampled by 8 and
    cropped (shipped with scikit-image, so it works offline)."""
    from skimage.data import astronaut

    image = astronaut()[::8, ::8][:height, :width].astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def _dynamic_shapes() -> tuple[dict[int, object], ...]:
    """Batch, height and width free. ``Dim.AUTO``: a named ``Dim(min, max)`` fails on the guard that nearest x2
    up-sampling twice puts on the size; AUTO lets torch.export infer the (unbounded) range."""
    auto = torch.export.Dim.AUTO
    return ({0: auto, 2: auto, 3: auto},)


def export_onnx(network: nn.Module, example: torch.Tensor, path: Path) -> None:
    """ONNX (torch.onnx's dynamo exporter), one file, weights inside."""
    try:
        program = torch.onnx.export(network, (example,), dynamo=True, dynamic_shapes=_dynamic_shapes(),
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False)
    except ImportError as err:
        raise ExportError(f"ONNX export needs the export extra: pip install -e .[export] ({err})") from None
    write_bytes_atomic(path, program.model_proto.SerializeToString())


def export_torchscript(network: nn.Module, example: torch.Tensor, path: Path) -> None:
    """TorchScript by ``torch.jit.script`` (control flow kept; no tracing)."""
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(network), buffer)
    write_bytes_atomic(path, buffer.getvalue())


def export_pt2(network: nn.Module, example: torch.Tensor, path: Path) -> None:
    """``torch.export`` program (``.pt2``), loadable with ``torch.export.load(path).module()``."""
    program = torch.export.export(network, (example,), dynamic_shapes=_dynamic_shapes())
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def run_exported(format: str, path: Path, lr: torch.Tensor) -> torch.Tensor:
    """Load the exported file ``path`` and run it on ``lr`` as a user without gansr would."""
    if format == "onnx":
        try:
            import onnxruntime
        except ImportError:
            raise ExportError(f"wrote {path}, but checking it needs ONNX Runtime: pip install -e .[export]") from None

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: lr.numpy()})[0])
    if format == "torchscript":
        return torch.jit.load(str(path), map_location="cpu")(lr)
    return torch.export.load(str(path)).module()(lr)


_EXPORTERS = {"onnx": export_onnx, "torchscript": export_torchscript, "pt2": export_pt2}


@torch.no_grad()
def export_network(network: nn.Module, stem: Path, formats: list[str], tolerance: float = 1e-4) -> list[ExportCheck]:
    """Write ``<stem>.onnx`` / ``.pt`` / ``.pt2`` for each of ``formats`` and check each against ``network``.

    The network (CPU, float32, eval mode) is traced on two 16x16 images and checked on :func:`sample_image` (one,
    40x48), so a file whose batch, height or width stayed fixed fails its check.

    Raises:
        ExportError: the exporter failed (the message names the format and the first line of its error), or a
            file's max |difference| exceeds ``tolerance`` (the file is kept for inspection).
    """
    network = network.cpu().float().eval()
    example, image = torch.rand(2, 3, 16, 16), sample_image()  # batch 2: a traced 1 would be fixed
    expected = network(image)
    checks = []
    for format in formats:
        path = stem.with_name(stem.name + FORMATS[format])
        try:
            _EXPORTERS[format](network, example, path)
        except ExportError:
            raise
        except Exception as err:  # the exporters raise many kinds (TorchScript, dynamo, ONNX): report them in a line
            first = (re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines() or [""])[0][:200]  # no colours
            raise ExportError(f"{format} export of {type(network).__name__} failed: {type(err).__name__}: {first}") from None
        difference = (run_exported(format, path, image) - expected).abs().max().item()
        checks.append(ExportCheck(format, path, difference, tuple(image.shape)))
        if not difference <= tolerance:
            raise ExportError(f"{path}: its output on a {image.shape[-2]}x{image.shape[-1]} test image differs from "
                              f"PyTorch's by {difference:.3g} > {tolerance:g}; the file is kept for inspection")
    return checks
