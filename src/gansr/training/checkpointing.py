"""Checkpoint files: atomic writes and finding the newest one of a run."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
