"""Check that an output can be written before any work is done, naming the path when it cannot.

The commands (``gansr-upscale``, ``gansr-score --out``, ``gansr-convert``, ``gansr-interpolate``) call these first,
so a typo, a read-only folder or an output that is one of the inputs (:func:`check_not_an_input`) fails in a second
with the path, not after minutes of computing (or, for
``torch.save``, with ``[enforce fail at inline_container.cc] open file failed`` and no path). The check really
writes: a probe file is created beside the output and removed (permission bits alone say nothing for root or on
network file systems).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from gansr.utils.atomic import torch_save_atomic
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


def _file_id(path: str | os.PathLike) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def check_not_an_input(outputs: Iterable[str | os.PathLike], inputs: Iterable[tuple[str, str | os.PathLike | None]],
                       what: str = "--out file", instead: str = "choose another --out") -> None:
    """Refuse any of ``outputs`` that is one of the ``inputs`` (the same file under any spelling of its path, or a
    link to it): it would be replaced by the output. ``inputs`` are ``(how it was given, path)`` pairs, e.g.
    ``("--checkpoint", "G.pth")``; a path None (not given) or missing is skipped, as is an output that does not exist
    yet. One ``stat`` per file.

    Raises:
        OutputNotWritableError: naming the output, the input and ``instead`` (what to do).
    """
    given = {}
    for name, path in inputs:
        if path is None:
            continue
        try:
            given.setdefault(_file_id(path), (name, path))
        except OSError:
            continue  # a missing input is reported by its reader
    for out in outputs:
        try:
            name, path = given[_file_id(out)]
        except (OSError, KeyError):
            continue
        raise OutputNotWritableError(f"the {what} {out} is the input {name} {path}: writing it would replace that "
                                     f"input; {instead}")


def save_weights(state: dict, path: str | os.PathLike) -> None:
    """``torch.save(state, path)`` through a temporary file and a rename (:func:`gansr.utils.atomic.torch_save_atomic`:
    a full disk or a crash leaves the previous ``path`` intact), naming ``path`` when it fails (torch's own message,
    ``[enforce fail at inline_container.cc] open file failed``, does not).

    Raises:
        OutputNotWritableError: the file could not be written.
    """
    try:
        torch_save_atomic(state, path)
    except (OSError, RuntimeError) as err:
        raise OutputNotWritableError(f"cannot write {path}: {err}") from None
