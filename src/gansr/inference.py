"""Inference: load a generator (a generator file or a training run's Lightning checkpoint), and up-scale large
images in overlapping tiles with bounded memory.

Generator files (``gansr-train`` writes ``<run>/generator.pth``; ``gansr-convert`` makes them from official
checkpoints) are plain dicts of tensors and primitives, loaded with ``weights_only=True``::

    {"params": G state, "params_ema": optional, "extractor": optional E state, "extractor_ema": optional,
     "config": {"generator": {_target_: ..., ...}, "extractor": {...} | None, "scale": 4}}

A Lightning checkpoint (``<run>/checkpoints/last.ckpt``) holds the weights but not the architecture; it is read
from the run folder's saved config (``<run>/.hydra/config.yaml``, else the CSV logger's ``<run>/hparams.yaml``):
:func:`generator_file_from_checkpoint` turns the two into the generator-file dict above.

A file of neither kind (official ESRGAN, BasicSR, Real-ESRGAN, SwinIR, ... weights) is run through the
architecture spandrel detects from its tensors (:mod:`gansr.utils.interop`), still loaded with ``weights_only``.

The ``config`` is data too: :func:`gansr.utils.safe_config.build_architecture` builds only gansr's own
architectures named by their import path, with plain bounded arguments, and only once the architecture matches the
weights' keys and shapes; a file naming anything else is refused. The run config beside a ``.ckpt`` is read as
data (:mod:`gansr.utils.run_folder`): no interpolation resolver runs. docs/reliability.md, "Reading run folders and
weight files", lists what is guaranteed.

Memory of tiled up-scaling (:func:`upscale_bands`): the network sees one ``(tile + 2*overlap)^2`` LR tile at a
time, and each tile is quantised to uint8 right away, so the float output never exists at full size; callers
assemble the uint8 bands into an array or a PIL image (``gansr-upscale``, :func:`gansr.api.upscale`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from gansr.data.image_io import to_uint8
from gansr.utils.checkpoint import safe_load
from gansr.utils.errors import GansrError
from gansr.utils.interop import load_foreign_generator
from gansr.utils.run_folder import (
    RUN_CONFIG_FILES,
    generator_file_config,
    read_sections,
    run_config_files,
)
from gansr.utils.safe_config import UnsafeConfigError, build_architecture

#: the largest up-scaling factor a generator file may state (the papers use x2, x3, x4; x8 exists)
MAX_SCALE = 16


class GeneratorPath(nn.Module):
    """``lr (B,3,h,w) -> sr (B,3,s*h,s*w)`` through an optional shared extractor E and the generator."""

    def __init__(self, generator: nn.Module, extractor: nn.Module | None = None, scale: int = 4) -> None:
        super().__init__()
        self.generator = generator
        self.extractor = extractor
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.generator(self.extractor(lr) if self.extractor is not None else lr)


def load_generator(path: str | Path, use_ema: bool = True) -> GeneratorPath:
    """The network of a gansr generator file, of a training run's Lightning checkpoint (``.ckpt``), or of a public
    weight file whose architecture spandrel detects (:mod:`gansr.utils.interop`: Real-ESRGAN, SwinIR, official
    ESRGAN, ...), with its weights loaded (EMA weights when present and ``use_ema``), in eval mode.

    Raises:
        UnsafeConfigError: the stored config names code other than gansr's architectures, or sizes out of bounds
            (nothing is run or built).
        ConfigFileError: a ``.ckpt``'s run config is not plain data (a resolver, an alias bomb, over 1 MiB).
        CheckpointMismatchError: the stored architecture does not fit the weights (checked before building).
        RunConfigNotFoundError: a ``.ckpt`` outside its run folder (its architecture is unknown).
        UnrecognisedWeightsError: neither a gansr file nor an RGB SR architecture spandrel knows; the message gives
            the gansr-convert command.
    """
    state = safe_load(path)
    if is_run_checkpoint(state):
        state = generator_file_from_checkpoint(state, run_generator_config(path)[0])
    elif "config" not in state:
        foreign = load_foreign_generator(state, path, use_ema)
        return GeneratorPath(foreign, scale=foreign.scale).eval()
    return generator_from_state(state, path, use_ema)


def is_run_checkpoint(checkpoint: Mapping) -> bool:
    """Whether a loaded file is a gansr training run's Lightning checkpoint (``state_dict`` with ``generator.*``)."""
    weights = checkpoint.get("state_dict")
    return isinstance(weights, Mapping) and any(str(k).startswith("generator.") for k in weights)


def generator_from_state(state: Mapping, path: str | Path, use_ema: bool = True) -> GeneratorPath:
    """The network of a loaded generator-file dict (module docstring), weights loaded strictly, in eval mode;
    ``path`` names the source in errors. The stored architecture is checked against the weights' keys and shapes
    before it is built (:func:`~gansr.utils.safe_config.build_fitting`), and the stored ``scale`` against the
    generator's own.

    Raises:
        UnsafeConfigError: the config names code or out-of-bounds sizes (nothing is built).
        CheckpointMismatchError: the config does not describe the network the weights come from.
        ValueError: not a generator file, or its ``scale`` is not the generator's.
    """
    absent = [key for key in ("config", "params") if key not in state]
    if absent:
        raise ValueError(
            f"{path}: not a gansr generator file (it has no {' and no '.join(repr(k) for k in absent)} entry). "
            f"Weights without the architecture: convert them, naming it: gansr-convert --checkpoint {path} --arch "
            "rrdbnet --out G.pth (see gansr-convert --help for the other architectures)"
        )
    config = state["config"]
    if not isinstance(config, Mapping) or not isinstance(config.get("generator"), Mapping):
        raise UnsafeConfigError(f"{path}: its 'config' holds no generator mapping; not a gansr generator file")
    scale = _stored_scale(config, path)
    params = state["params_ema"] if use_ema and "params_ema" in state else state["params"]
    params = _tensor_dict(params, path, "generator")
    generator = build_architecture(config["generator"], path, weights=params)
    generator.load_state_dict(params)  # keys and shapes already match
    extractor = None
    if config.get("extractor"):
        key = "extractor_ema" if use_ema and "extractor_ema" in state else "extractor"
        weights = _tensor_dict(state.get(key), path, "extractor")
        extractor = build_architecture(config["extractor"], path, weights=weights)
        extractor.load_state_dict(weights)
    return GeneratorPath(generator, extractor, scale=scale).eval()


def _stored_scale(config: Mapping, path: str | Path) -> int:
    """``config["scale"]``, an integer in 1..:data:`MAX_SCALE` equal to the generator's own ``scale`` argument
    (when it has one): a file saying x2 for a x4 network would write images of the wrong size."""
    scale = config.get("scale")
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= MAX_SCALE:
        raise UnsafeConfigError(f"{path}: config.scale={scale!r} is not an up-scaling factor (an integer in 1.."
                                f"{MAX_SCALE})")
    network_scale = config["generator"].get("scale", scale)
    if network_scale != scale:
        raise ValueError(f"{path}: config.scale={scale} but its generator up-scales x{network_scale}; the file is "
                         "inconsistent (re-export it with gansr-convert)")
    return scale


def _tensor_dict(params: object, path: str | Path, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(params, Mapping) or not all(isinstance(v, torch.Tensor) for v in params.values()):
        raise ValueError(f"{path}: the {what} weights are missing or not a state dict (name -> tensor)")
    return dict(params)


# the older name, used by gansr-eval, the demo and the tables
load_generator_file = load_generator


class RunConfigNotFoundError(GansrError, FileNotFoundError):
    """A Lightning checkpoint whose run folder (and so its generator's architecture) cannot be found."""


def run_generator_config(checkpoint_path: str | Path) -> tuple[dict, Path]:
    """``({"generator", "extractor", "scale"}, the config file read)`` recorded by the run that wrote
    ``checkpoint_path`` (``<run>/checkpoints/*.ckpt`` or ``<run>/*.ckpt``); see
    :data:`~gansr.utils.run_folder.RUN_CONFIG_FILES`.

    Only the ``generator``, ``sharing`` and ``scale`` sections are read, as data with plain ``${a.b}`` references
    followed (:func:`~gansr.utils.run_folder.read_sections`): no resolver runs, nothing is instantiated; the
    result goes to :func:`build_architecture`.

    Raises:
        ConfigFileError: the config file is not plain data (an interpolation, an alias bomb, too large).
        RunConfigNotFoundError: no run config beside the checkpoint.
    """
    checkpoint_path = Path(checkpoint_path).resolve()
    folders = (checkpoint_path.parent.parent, checkpoint_path.parent)
    candidates = [folder / name for folder in folders for name in RUN_CONFIG_FILES]
    for file in (f for folder in folders for f in run_config_files(folder)):
        sections = read_sections(file, ("generator", "sharing", "scale"))
        if isinstance(sections.get("generator"), Mapping) and "scale" in sections:
            return generator_file_config(sections), file
    raise RunConfigNotFoundError(
        f"{checkpoint_path}: a Lightning checkpoint holds the weights but not the generator's architecture, and no "
        f"run config was found beside it (looked for {', '.join(str(c) for c in candidates)}). Keep the checkpoint "
        "in its run folder, use the run's generator.pth, or convert it naming the architecture: gansr-convert "
        f"--checkpoint {checkpoint_path} --arch <conf/generator name> --set num_feat=... --out G.pth"
    )


def generator_file_from_checkpoint(checkpoint: Mapping, config: dict) -> dict:
    """The generator-file dict (module docstring) of a gansr Lightning checkpoint: the ``generator.``,
    ``extractor.`` and ``generator_ema.*`` weights of its ``state_dict`` with ``config`` (what
    :func:`run_generator_config` reads)."""
    weights = checkpoint["state_dict"]
    parts = {"params": "generator.", "extractor": "extractor.", "params_ema": "generator_ema.generator.",
             "extractor_ema": "generator_ema.extractor."}
    state: dict = {"config": config}
    for name, prefix in parts.items():
        found = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        if found:
            state[name] = found
    return state


class OutputSizeError(GansrError, ValueError):
    """The network's output is not ``scale`` times its input: the scale it was loaded with is not its own."""


def _checked_output(sr: torch.Tensor, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """``sr``, once its size is ``scale`` x that of ``lr`` (else :class:`OutputSizeError`: an image of the
    wrong size is never written)."""
    expected = (lr.shape[-2] * scale, lr.shape[-1] * scale)
    if tuple(sr.shape[-2:]) != expected:
        raise OutputSizeError(f"the network turned a {lr.shape[-2]}x{lr.shape[-1]} input into {sr.shape[-2]}x"
                              f"{sr.shape[-1]}, not x{scale} ({expected[0]}x{expected[1]}): its scale is not the "
                              "one it was loaded with; check the generator file's config.scale")
    return sr


def _tiles(
    upscale: nn.Module, lr: torch.Tensor, scale: int, tile: int, overlap: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(output top, output left, sr tile (B,3,th,tw))`` for every LR tile in row-major order (one whole-image
    tile when ``tile <= 0``): each tile runs with ``overlap`` LR pixels of context and keeps its own region."""
    if tile <= 0:
        yield 0, 0, _checked_output(upscale(lr), lr, scale)
        return
    if overlap < 0:
        raise ValueError(f"tile overlap must be >= 0, got {overlap}")
    h, w = lr.shape[-2:]
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            sr = _checked_output(upscale(lr[:, :, t0:t1, l0:l1]), lr[:, :, t0:t1, l0:l1], scale)
            oy, ox = (top - t0) * scale, (left - l0) * scale
            yield top * scale, left * scale, sr[:, :, oy : oy + (bottom - top) * scale, ox : ox + (right - left) * scale]


@torch.no_grad()
def tiled_upscale(
    upscale: nn.Module, lr: torch.Tensor, scale: int, tile: int = 0, overlap: int = 16, on_tile: Callable[[int], object] | None = None
) -> torch.Tensor:
    """Up-scale ``lr (B,3,h,w)`` to a float ``(B,3,s*h,s*w)`` in ``tile x tile`` LR tiles, each run with
    ``overlap`` LR pixels of context on every side; only the tile's own region of the output is kept, so with
    ``overlap`` at least the network's receptive-field radius the result equals the untiled one (no seams).
    ``tile <= 0`` runs the whole image. For images to save, :func:`upscale_bands` keeps memory lower.

    Memory: one ``(tile + 2*overlap)^2`` LR tile in flight plus the float output.
    ``on_tile(1)`` is called after each tile (a progress bar's ``update``).
    """
    if tile <= 0:
        return _checked_output(upscale(lr), lr, scale)
    b, _, h, w = lr.shape
    out = lr.new_zeros(b, 3, h * scale, w * scale)
    for top, left, sr in _tiles(upscale, lr, scale, tile, overlap):
        out[:, :, top : top + sr.shape[-2], left : left + sr.shape[-1]] = sr
        if on_tile is not None:
            on_tile(1)
    return out


@torch.no_grad()
def upscale_bands(
    upscale: nn.Module, lr: torch.Tensor, scale: int, tile: int = 0, overlap: int = 16, on_tile: Callable[[int], object] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Up-scale one image ``lr (1,3,h,w)`` and yield ``(output top row, uint8 band (rows, s*w, 3))`` from top to
    bottom, one band per row of tiles (the whole image when ``tile <= 0``). Tiles as :func:`tiled_upscale`; each
    is quantised at once with :func:`gansr.data.image_io.to_uint8` (clamp to [0,1], x255, round), so the values
    equal those of quantising the whole float output.

    Memory: one float tile and one uint8 band beside the caller's uint8 canvas (no full-size float output).
    """
    if lr.shape[0] != 1:
        raise ValueError(f"upscale_bands takes one image (1,3,h,w), got a batch of {lr.shape[0]}")
    width = lr.shape[-1] * scale
    band: np.ndarray | None = None
    band_top = 0
    for top, left, sr in _tiles(upscale, lr, scale, tile, overlap):
        if band is not None and top != band_top:
            yield band_top, band
            band = None
        if band is None:
            band, band_top = np.empty((sr.shape[-2], width, 3), np.uint8), top
        band[:, left : left + sr.shape[-1]] = to_uint8(sr[0])
        del sr
        if on_tile is not None:
            on_tile(1)
    if band is not None:
        yield band_top, band


def upscale_to_array(upscale: nn.Module, lr: torch.Tensor, scale: int, tile: int = 0, overlap: int = 16,
                     on_tile: Callable[[int], object] | None = None) -> np.ndarray:
    """:func:`upscale_bands` assembled into one ``(s*h, s*w, 3)`` uint8 array."""
    canvas = np.empty((lr.shape[-2] * scale, lr.shape[-1] * scale, 3), np.uint8)
    for top, band in upscale_bands(upscale, lr, scale, tile, overlap, on_tile):
        canvas[top : top + band.shape[0]] = band
    return canvas


def upscale_to_image(upscale: nn.Module, lr: torch.Tensor, scale: int, tile: int = 0, overlap: int = 16,
                     on_tile: Callable[[int], object] | None = None) -> Image.Image:
    """:func:`upscale_bands` pasted into one RGB PIL image (what ``gansr-upscale`` saves: Pillow keeps RGB at
    4 bytes a pixel and writes PNG from it without another full-size copy)."""
    canvas = Image.new("RGB", (lr.shape[-1] * scale, lr.shape[-2] * scale))
    for top, band in upscale_bands(upscale, lr, scale, tile, overlap, on_tile):
        canvas.paste(Image.fromarray(band), (0, top))
    return canvas


def tile_count(h: int, w: int, tile: int) -> int:
    """Number of tiles ``tiled_upscale`` runs for an ``h x w`` LR image."""
    return 1 if tile <= 0 else -(-h // tile) * -(-w // tile)
