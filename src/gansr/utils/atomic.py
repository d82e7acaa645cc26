"""Atomic output files: every file gansr writes goes to a temporary name in the target's folder, then is renamed
over the target (``os.replace`` is atomic on POSIX), so a crash, a signal or a full disk leaves either the old file
or the new one, never a half-written one.

The temporary name is unique across processes and hosts (host name, PID and a random tag), keeps the target's
suffix last (PIL, matplotlib and ``torch.save`` callers that look at the suffix still work) and starts with a dot,
so shell globs and :func:`gansr.data.image_io.list_images` skip an unfinished file. Python's ``Path.glob("*.ckpt")``
does match dot files: readers that glob skip :func:`is_temporary` names, and :func:`unfinished_files` finds the
ones a killed process left (the run folder's checkpoint clean-up).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temporary_name(target: Path) -> Path:
    """``<folder>/.<stem>.<host>.<pid>.<random>.tmp<suffix>`` beside ``target``: unique across hosts sharing a disk."""
    target = Path(target)
    tag = f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    return target.with_name(f".{target.stem}.{tag}.tmp{target.suffix}")


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a :func:`temporary_name` (an atomic write in progress or never finished)."""
    name = Path(path).name
    return name.startswith(".") and ".tmp" in name


def unfinished_files(folder: str | os.PathLike, suffix: str) -> list[Path]:
    """The temporary files of atomic writes to ``<folder>/*<suffix>`` (``suffix`` e.g. ``".ckpt"``), sorted."""
    return sorted(Path(folder).glob(f".*.tmp{suffix}"))


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on normal exit it is renamed over ``target``, on an exception removed
    (``target`` is then untouched). Usage: ``with atomic_path(out) as tmp: image.save(tmp)``."""
    target = Path(target)
    tmp = temporary_name(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {target}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically, flushed to disk before the rename."""
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_text_atomic(target: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``target`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(target, text.encode(encoding))


def torch_save_atomic(obj: Any, target: str | os.PathLike) -> None:
    """``torch.save(obj, target)`` through a temporary file and a rename."""
    import torch

    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
