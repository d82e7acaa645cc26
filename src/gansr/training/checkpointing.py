"""Checkpoint files: atomic writes, one copy per content (hard links), finding the newest valid one of a run, and the
random state an exact resume needs."""
from __future__ import annotations

import os
import pickle
import random
import re
import shutil
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from gansr.utils.atomic import atomic_path, is_temporary, torch_save_atomic
from gansr.utils.checkpoint import DamagedCheckpointError, check_integrity
from gansr.utils.errors import GansrError


class CheckpointWriteError(GansrError, OSError):
    """A checkpoint could not be written (a full disk, a quota, a read-only folder); the message names the file,
    the system's reason and the free space. The unfinished temporary file is removed; earlier checkpoints are
    untouched."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes through :func:`gansr.utils.atomic.torch_save_atomic` (a temporary name, then a rename): a crash or a
    full disk while saving never leaves a truncated checkpoint in place of a good one. A failed write removes the
    temporary file and raises :class:`CheckpointWriteError` naming the reason (``No space left on device``; torch's
    own message, ``basic_ios::clear`` or ``enforce fail at inline_container.cc``, does not). Always loads with
    ``weights_only=True``: a checkpoint that carries code is refused, never executed."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # a new file: never written through a hard link (see link_atomically)
            torch_save_atomic(checkpoint, path)  # through Python's file: a failed write raises OSError with its errno
        except (OSError, RuntimeError) as err:
            raise CheckpointWriteError(f"could not write the checkpoint {path}: {_write_failure(err, path.parent)}; "
                                       "the earlier checkpoints are intact (free space, then continue with "
                                       "resume=auto)") from None


def _write_failure(err: BaseException, folder: Path) -> str:
    """``No space left on device (12.0 MB free in <folder>)``: the system's reason and the free space."""
    reason = err.strerror if isinstance(err, OSError) and err.strerror else " ".join(str(err).split())[:200]
    try:
        free = f" ({shutil.disk_usage(folder).free / 1e6:.1f} MB free in {folder})"
    except OSError:
        free = ""
    return f"{reason}{free}"

    def load_checkpoint(self, path: str | Path, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location=map_location or "cpu", weights_only=True)


class NotATrainingCheckpointError(GansrError, ValueError):
    """The file is readable but is not a ``gansr-train`` checkpoint (e.g. an exported ``generator.pth``)."""


def checkpoint_iteration(path: str | Path, verify: bool = True) -> int:
    """The training iteration stored in a ``gansr-train`` checkpoint, read without loading its tensors (``mmap``).
    With ``verify``, every byte is first checked against the CRC-32s the file stores
    (:func:`gansr.utils.checkpoint.check_integrity`, one read of the file).

    Raises:
        ValueError: the file is empty, truncated, damaged (changed after it was written), not a PyTorch file, or
            holds pickled code, which is refused and never run (the message says which).
        NotATrainingCheckpointError: a readable file that is not a training checkpoint (a generator file, a
            Lightning checkpoint of another project); the message says what it holds.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError("0 bytes (a write that never finished)")
    if verify:
        try:
            check_integrity(path)
        except DamagedCheckpointError as err:
            raise ValueError(f"damaged: {err.reason}") from None
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)  # the pre-zip file format
    except pickle.UnpicklingError as err:
        needs = re.search(r"GLOBAL ([\w.]+)", str(err))
        raise ValueError(f"refused to unpickle it: {'it needs ' + needs.group(1) if needs else 'it holds Python objects'}"
                         ", not only tensors (nothing from it was run)") from None
    except Exception as err:  # noqa: BLE001 - every reason a file does not load is reported, none is run
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"not a readable checkpoint ({reason[:200]})") from None
    if not isinstance(obj, dict) or "state_dict" not in obj or "pytorch-lightning_version" not in obj:
        held = f"keys {sorted(obj)[:5]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
        kind = "generator weights" if isinstance(obj, dict) and ("params" in obj or "params_ema" in obj) else "weights"
        raise NotATrainingCheckpointError(f"{kind}, not a training checkpoint (it holds {held}: no optimizer or "
                                          "loop state)")
    if "iteration" not in obj:
        raise NotATrainingCheckpointError("a Lightning checkpoint, but not one gansr-train wrote (no 'iteration')")
    return int(obj["iteration"])


def newest_valid_checkpoint(folder: str | Path) -> tuple[Path | None, list[str]]:
    """The ``*.ckpt`` in ``folder`` with the highest stored iteration that loads and passes its CRC check (ties: the
    most recently written), and one line per file skipped, naming it and why (empty, truncated, damaged, not a
    training checkpoint). Only the newest candidates are read whole (:func:`checkpoint_iteration`), down to the
    first intact one; unfinished atomic writes (:func:`gansr.utils.atomic.is_temporary`) are not candidates."""
    folder = Path(folder)
    found, skipped = [], []
    for path in sorted(folder.glob("*.ckpt")) if folder.is_dir() else []:
        if not path.is_file() or is_temporary(path):
            continue
        try:
            found.append((checkpoint_iteration(path, verify=False), path.stat().st_mtime_ns, path))
        except ValueError as err:
            skipped.append(f"{path}: {err}")
    for _, _, path in sorted(found, reverse=True):
        try:
            check_integrity(path)
        except DamagedCheckpointError as err:
            skipped.append(f"{path}: damaged: {err.reason}")
            continue
        return path, skipped
    return None, skipped


#: what each trainer wrote in this process: path -> (iteration, global_step) of the last write
_WRITTEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _progress(trainer: pl.Trainer) -> tuple[int, int]:
    return getattr(trainer.lightning_module, "iteration", 0), trainer.global_step


def save_checkpoint_once(trainer: pl.Trainer, path: str | Path, same_as: str | Path | None = None) -> bool:
    """``trainer.save_checkpoint(path)`` unless this trainer already wrote ``path`` at this iteration (the
    pre-emption and the periodic/final checkpoint can fall on the same batch). With ``same_as``, a checkpoint this
    trainer wrote at this very iteration, ``path`` becomes a hard link to it instead (one copy on disk; a copy where
    the file system has no hard links), swapped in atomically. Returns whether anything was written."""
    path = Path(path)
    written = _WRITTEN.setdefault(trainer, {})
    now = _progress(trainer)
    if written.get(path) == now:
        return False
    if same_as is not None and written.get(Path(same_as)) == now:
        if trainer.is_global_zero:
            link_atomically(Path(same_as), path)
        trainer.strategy.barrier("gansr_link_checkpoint")
    else:
        trainer.save_checkpoint(path, weights_only=False)  # the full training state, said (Lightning logs the default)
    written[path] = now
    return True


def link_atomically(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` (a copy where hard links are not supported): built under a
    temporary name and renamed over ``target`` (:func:`gansr.utils.atomic.atomic_path`), so ``target`` is at every
    moment either the old or the new file. Later atomic saves to either name replace that name only, never the
    shared content."""
    with atomic_path(target) as tmp:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


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
