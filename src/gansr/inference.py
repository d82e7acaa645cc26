"""Inference: load a generator (a generator file or a training run's Lightning checkpoint), and up-scale large
images in overlapping tiles with bounded memory.

Generator files (``gansr-train`` writes ``<run>/generator.pth``; ``gansr-convert`` makes them from official
checkpoints) are plain dicts of tensors and primitives, loaded with ``weights_only=True``::

    {"params": G state, "params_ema": optional, "extractor": optional E state, "extractor_ema": optional,
     "config": {"generator": {_target_: ..., ...}, "extractor": {...} | None, "scale": 4}}

A Lightning checkpoint (``<run>/checkpoints/last.ckpt``) holds the weights but not the architecture; it is read
from the run folder's saved config (``<run>/.hydra/config.yaml``, else the CSV logger's ``<run>/hparams.yaml``):
:func:`generator_file_from_checkpoint` turns the two into the generator-file dict above.

The ``config`` is data too: :func:`gansr.utils.safe_config.build_architecture` builds only gansr's own
architectures named by their import path, with plain arguments; a file naming anything else is refused.

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
from gansr.utils.safe_config import UnsafeConfigError, build_architecture

# where a run folder keeps its composed config, relative to the run folder (Hydra's copy first: always written by
# gansr-train; the CSV logger's resolved copy second)
RUN_CONFIG_FILES = (Path(".hydra") / "config.yaml", Path("hparams.yaml"))


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
    """The network of a gansr generator file or of a training run's Lightning checkpoint (``.ckpt``), with its
    weights loaded (EMA weights when present and ``use_ema``), in eval mode.

    Raises:
        UnsafeConfigError: the stored config names code other than gansr's architectures (nothing is run).
        RunConfigNotFoundError: a ``.ckpt`` outside its run folder (its architecture is unknown).
        ValueError: an official checkpoint (no architecture stored): the message gives the gansr-convert command.
    """
    state = safe_load(path)
    if isinstance(state.get("state_dict"), Mapping):
        state = generator_file_from_checkpoint(state, run_generator_config(path)[0])
    return generator_from_state(state, path, use_ema)


def generator_from_state(state: Mapping, path: str | Path, use_ema: bool = True) -> GeneratorPath:
    """The network of a loaded generator-file dict (module docstring), weights loaded strictly, in eval mode;
    ``path`` names the source in errors."""
    if "config" not in state or "params" not in state:
        raise ValueError(
            f"{path}: not a gansr generator file (no 'config'/'params'): official weights do not say their "
            f"architecture. Convert them, naming it: gansr-convert --checkpoint {path} --arch rrdbnet --out G.pth "
            "(see gansr-convert --help for the other architectures)"
        )
    config = state["config"]
    generator = build_architecture(config["generator"], path)
    params = state["params_ema"] if use_ema and "params_ema" in state else state["params"]
    _load_strict(generator, params, path, "generator")
    extractor = None
    if config.get("extractor"):
        extractor = build_architecture(config["extractor"], path)
        key = "extractor_ema" if use_ema and "extractor_ema" in state else "extractor"
        _load_strict(extractor, state[key], path, "extractor")
    return GeneratorPath(generator, extractor, scale=int(config["scale"])).eval()


# the older name, used by gansr-eval, the demo and the tables
load_generator_file = load_generator


class RunConfigNotFoundError(GansrError, FileNotFoundError):
    """A Lightning checkpoint whose run folder (and so its generator's architecture) cannot be found."""


def run_generator_config(checkpoint_path: str | Path) -> tuple[dict, Path]:
    """``({"generator", "extractor", "scale"}, the config file read)`` recorded by the run that wrote
    ``checkpoint_path`` (``<run>/checkpoints/*.ckpt`` or ``<run>/*.ckpt``); see :data:`RUN_CONFIG_FILES`.

    Only the ``generator``, ``sharing`` and ``scale`` entries are resolved; they are returned as plain data for
    :func:`build_architecture` (nothing in the file is instantiated).
    """
    import yaml
    from omegaconf import OmegaConf

    from gansr.cli.train import (
        generator_config,  # the same selection gansr-train stores in generator.pth
    )

    checkpoint_path = Path(checkpoint_path).resolve()
    candidates = [folder / name for folder in (checkpoint_path.parent.parent, checkpoint_path.parent)
                  for name in RUN_CONFIG_FILES]
    for file in candidates:
        if file.is_file():
            try:
                config = OmegaConf.load(file)
            except yaml.YAMLError as err:  # a tag (!!python/...), bad syntax: refused, nothing of it is built
                reason = " ".join(str(err).split())
                raise UnsafeConfigError(f"{file}: not a plain YAML run config ({reason[:300]}); use the run's "
                                        "generator.pth, or restore the file gansr-train wrote") from None
            if isinstance(config.get("generator"), Mapping) and "scale" in config:
                return generator_config(config), file
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


def _load_strict(module: nn.Module, params: dict, path: str | Path, what: str) -> None:
    result = module.load_state_dict(params, strict=False)
    problems = list(result.missing_keys[:3]) + list(result.unexpected_keys[:3])
    if problems:
        raise ValueError(f"{path}: {what} weights do not fit the stored architecture (first keys: {problems})")


def _tiles(
    upscale: nn.Module, lr: torch.Tensor, scale: int, tile: int, overlap: int
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(output top, output left, sr tile (B,3,th,tw))`` for every LR tile in row-major order (one whole-image
    tile when ``tile <= 0``): each tile runs with ``overlap`` LR pixels of context and keeps its own region."""
    if tile <= 0:
        yield 0, 0, upscale(lr)
        return
    if overlap < 0:
        raise ValueError(f"tile overlap must be >= 0, got {overlap}")
    h, w = lr.shape[-2:]
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            sr = upscale(lr[:, :, t0:t1, l0:l1])
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
        return upscale(lr)
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
