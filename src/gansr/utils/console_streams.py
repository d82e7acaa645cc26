"""Console output that a closed reader cannot break: ``gansr-train ... | tee out.log`` and Ctrl-C.

Ctrl-C reaches every process of the terminal's foreground group: ``tee`` (or ``head``, ``less``) ends at once, the
run goes on to save its checkpoint (docs/reliability.md), and its next ``print`` to the pipe nobody reads raised
``BrokenPipeError``, which ended the run with exit 1 before ``generator.pth`` was written.

:func:`guard_console_streams` wraps ``sys.stdout`` and ``sys.stderr`` so that a write or flush that fails because the
reader is gone (``EPIPE``) points the stream's file descriptor at ``/dev/null`` and carries on: from then on console
output is dropped and the run's log files (``train.log``, ``metrics.csv``) are the record. Logging handlers created
after the call (Hydra's console handler resolves ``ext://sys.stdout`` when it configures logging) write through the
guard too, and Python's final flush at exit no longer fails (exit status 120).
"""
from __future__ import annotations

import errno
import logging
import os
import sys
from typing import TextIO

LOG = logging.getLogger("gansr.console")


def _reader_gone(err: OSError) -> bool:
    return isinstance(err, BrokenPipeError) or err.errno in (errno.EPIPE, errno.ECONNRESET)


class PipeSafeStream:
    """A text stream whose writes and flushes survive the reader closing the pipe (module docstring).

    Every other attribute (``fileno``, ``isatty``, ``encoding``, ``buffer`` ...) is the wrapped stream's.
    ``closed_reader`` says whether the reader has gone.
    """

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name
        self.closed_reader = False

    def _drop_further_output(self) -> None:
        """Point the stream's descriptor at /dev/null, so buffered and later output is discarded without error."""
        first = not self.closed_reader
        self.closed_reader = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # no descriptor (an in-memory stream): writes are skipped
            pass
        if first:  # recorded where the log handlers write (train.log); the console handler now writes to /dev/null
            LOG.warning(f"[gansr] the reader of {self._name} has gone (closed pipe): console output stops here, the "
                        "run goes on and its log files keep the record")

    def write(self, text: str) -> int:
        if self.closed_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except OSError as err:
            if not _reader_gone(err):
                raise
            self._drop_further_output()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as err:
            if not _reader_gone(err):
                raise
            self._drop_further_output()
            try:
                self._stream.flush()  # the buffered text now goes to /dev/null
            except OSError:
                pass

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def guard_console_streams() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` in :class:`PipeSafeStream` (idempotent). Call it first thing in a
    command's ``main``, before logging is configured, so every console writer goes through the guard."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, PipeSafeStream):
            setattr(sys, name, PipeSafeStream(stream, name))
