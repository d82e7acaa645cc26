"""Check that an output can be written before any work is done, naming the path when it cannot.

The commands (``gansr-upscale``, ``gansr-score --out``, ``gansr-convert``, ``gansr-interpolate``) call these first,
so a typo or a read-only folder fails in a second with the path, not after minutes of computing (or, for
``torch.save``, with ``[enforce fail at inline_container.cc] open file failed`` and no path). The check really
writes: a probe file is created beside the output and removed (permission bits alone say nothing for root or on
network file systems).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gansr.utils.errors import GansrError


class OutputNotWritableError(GansrError, OSError):
    """The output file or folder cannot be created; the message names it and the reason."""

    def __str__(self) -> str:
        return self.args[0]


def _cannot_write_in(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (created with its parents if missing), or None when one can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gansr-write-test-"):
            pass
    except OSError as err:
        if isinstance(err, (FileExistsError, NotADirectoryError)) or (folder.exists() and not folder.is_dir()):
            return f"{folder} or one of its parents is a file, not a folder"
        return f"{folder}: {err.strerror or type(err).__name__}"
    return None


def check_writable_folder(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``folder`` (with parents) and prove a file can be written in it.

    Raises:
        OutputNotWritableError: naming ``what``, the folder and the operating system's reason.
    """
    folder = Path(folder)
    reason = _cannot_write_in(folder)
    if reason:
        raise OutputNotWritableError(f"cannot write to the {what} {folder}: {reason}; choose another location")
    return folder


def check_writable_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Prove ``path`` can be written: its folder is created and writable, and ``path`` is not a folder.
    An existing file at ``path`` is left as it is (it will be replaced by the real output).

    Raises:
        OutputNotWritableError: naming ``what``, the path and the reason.
    """
    path = Path(path)
    reason = f"{path} is a folder; give a file name" if path.is_dir() else _cannot_write_in(path.parent)
    if reason:
        raise OutputNotWritableError(f"cannot write the {what} {path}: {reason}; choose another location")
    return path


def save_weights(state: dict, path: str | os.PathLike) -> None:
    """``torch.save(state, path)``, naming ``path`` when it fails (torch's own message, ``[enforce fail at
    inline_container.cc] open file failed``, does not).

    Raises:
        OutputNotWritableError: the file could not be written.
    """
    import torch

    try:
        torch.save(state, path)
    except (OSError, RuntimeError) as err:
        raise OutputNotWritableError(f"cannot write {path}: {err}") from None
