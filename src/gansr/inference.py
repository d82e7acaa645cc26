"""Inference: load a generator file, and up-scale large images in overlapping tiles with bounded memory.

Generator files (``gansr-train`` writes ``<run>/generator.pth``; ``gansr-convert`` makes them from official
checkpoints) are plain dicts of tensors and primitives, loaded with ``weights_only=True``::

    {"params": G state, "params_ema": optional, "extractor": optional E state,
     "config": {"generator": {_target_: ..., ...}, "extractor": {...} | None, "scale": 4}}

The ``config`` is data too: :func:`gansr.utils.safe_config.build_architecture` builds only gansr's own
architectures named by their import path, with plain arguments; a file naming anything else is refused.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from gansr.utils.checkpoint import safe_load
from gansr.utils.safe_config import build_architecture


class GeneratorPath(nn.Module):
    """``lr (B,3,h,w) -> sr (B,3,s*h,s*w)`` through an optional shared extractor E and the generator."""

    def __init__(self, generator: nn.Module, extractor: nn.Module | None = None, scale: int = 4) -> None:
        super().__init__()
        self.generator = generator
        self.extractor = extractor
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.generator(self.extractor(lr) if self.extractor is not None else lr)


def load_generator_file(path: str | Path, use_ema: bool = True) -> GeneratorPath:
    """Build the network described in a gansr generator file and load its weights (EMA weights when present
    and ``use_ema``). A file without a ``config`` entry (an official checkpoint) must go through
    ``gansr-convert`` first; the error says so.

    Raises:
        UnsafeConfigError: the stored config names code other than gansr's architectures (nothing is run).
    """
    state = safe_load(path)
    if "config" not in state or "params" not in state:
        raise ValueError(
            f"{path}: not a gansr generator file (no 'config'/'params'). Convert official weights first: "
            f"gansr-convert --checkpoint {path} --arch rrdbnet --out G.pth"
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


def _load_strict(module: nn.Module, params: dict, path: str | Path, what: str) -> None:
    result = module.load_state_dict(params, strict=False)
    problems = list(result.missing_keys[:3]) + list(result.unexpected_keys[:3])
    if problems:
        raise ValueError(f"{path}: {what} weights do not fit the stored architecture (first keys: {problems})")


@torch.no_grad()
def tiled_upscale(
    upscale: nn.Module, lr: torch.Tensor, scale: int, tile: int = 0, overlap: int = 16, on_tile: Callable[[int], object] | None = None
) -> torch.Tensor:
    """Up-scale ``lr (B,3,h,w)`` in ``tile x tile`` LR tiles, each run with ``overlap`` LR pixels of context on
    every side; only the tile's own region of the output is kept, so with ``overlap`` at least the network's
    receptive-field radius the result equals the untiled one (no seams). ``tile <= 0`` runs the whole image.

    Memory: one ``(tile + 2*overlap)^2`` LR tile in flight plus the ``(B,3,s*h,s*w)`` output.
    ``on_tile(1)`` is called after each tile (a progress bar's ``update``).
    """
    if tile <= 0:
        return upscale(lr)
    if overlap < 0:
        raise ValueError(f"tile overlap must be >= 0, got {overlap}")
    b, c, h, w = lr.shape
    out = lr.new_zeros(b, 3, h * scale, w * scale)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, l1 = min(bottom + overlap, h), min(right + overlap, w)
            sr = upscale(lr[:, :, t0:t1, l0:l1])
            oy, ox = (top - t0) * scale, (left - l0) * scale
            out[:, :, top * scale : bottom * scale, left * scale : right * scale] = sr[
                :, :, oy : oy + (bottom - top) * scale, ox : ox + (right - left) * scale
            ]
            if on_tile is not None:
                on_tile(1)
    return out


def tile_count(h: int, w: int, tile: int) -> int:
    """Number of tiles ``tiled_upscale`` runs for an ``h x w`` LR image."""
    return 1 if tile <= 0 else -(-h // tile) * -(-w // tile)
