"""Checkpoint files: atomic writes, finding the newest one of a run, and the random state an exact resume needs."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes ``<file>.tmp`` then renames it over ``<file>``: a crash while saving never leaves a truncated
    checkpoint in place of a good one (``os.replace`` is atomic on POSIX and Windows). Always loads with
    ``weights_only=True``: a checkpoint that carries code is refused, never executed."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)

    def load_checkpoint(self, path: str | Path, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location or "cpu", weights_only=True)


def newest_checkpoint(folder: str | Path) -> Path | None:
    """The most recently written ``*.ckpt`` in ``folder`` (None when there is none)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    candidates = [p for p in folder.glob("*.ckpt") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def rng_state() -> dict[str, Any]:
    """The global random generators (torch CPU/CUDA, NumPy, Python) as tensors and plain containers, so a
    checkpoint holding them still loads with ``weights_only=True``.

    Lightning restores weights, optimizers and loop counters but not these; any random draw of the training step
    (and of user code) continues from here. The training data do not depend on them: their order and crops are
    a function of ``(data.seed, stream position)`` (``gansr.data.sampling``), restarted from the iteration counter.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any], rank: int = 0) -> None:
    """Restore :func:`rng_state`. Under DDP only rank 0's state was saved: other ranks re-seed from it plus their
    rank, so their random crops stay different from each other (deterministic, not identical to the old run)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))
    if rank:
        seed = int(torch.randint(0, 2**31, ())) + rank
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
