"""Stop signals before training starts: ``gansr-train`` catches SIGTERM, SIGUSR1, SIGUSR2 and SIGINT from its first
line on, so a signal that arrives while Python imports torch, while Hydra composes the config or while the data
are prepared (LR images cached) no longer kills the process with the run folder's ``run.lock`` left behind
(exit 143/138) and no SLURM requeue.

* :func:`catch_stop_signals` (the command's first line, before the heavy imports) records the first such signal;
* :func:`armed` (around ``train()``): a recorded or new signal raises :class:`StopRequested` at once, which
  ``train()`` turns into "stopped before the first iteration", the lock released and, under SLURM, the job
  requeued (docs/reliability.md);
* once training runs, ``PreemptionCheckpoint`` installs its own handlers (save ``last.ckpt`` at the end of the
  batch, stop) and calls :func:`disarm`, so a signal after the fit (while ``generator.pth`` is written) does not
  interrupt that write.

No torch here: it is imported before torch is.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

#: the signals that stop a run (the same as ``PreemptionCheckpoint.SIGNALS``)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)


class StopRequested(BaseException):
    """A stop signal arrived before the first training iteration. A ``BaseException`` (as ``KeyboardInterrupt``), so
    that no ``except Exception`` on the way swallows it. ``signum``: the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} received before the first iteration")
        self.signum = signum


class _Catcher:
    def __init__(self) -> None:
        self.received: int | None = None
        self.armed = False
        self.previous: dict[int, object] = {}

    def handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
        if self.armed:
            self.armed = False  # one exception, however many signals follow
            raise StopRequested(signum)


_CATCHER = _Catcher()


def catch_stop_signals() -> None:
    """Record the first stop signal from now on instead of dying of it (idempotent). Call before heavy imports."""
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) != _CATCHER.handle:
            _CATCHER.previous[signum] = signal.signal(signum, _CATCHER.handle)


def is_recorder(handler: object) -> bool:
    """Whether ``handler`` is the one :func:`catch_stop_signals` installs."""
    return handler == _CATCHER.handle


def disarm() -> None:
    """Training has started: from now on signals are only recorded here (``PreemptionCheckpoint`` acts on them)."""
    _CATCHER.armed = False


def release() -> None:
    """Put back the handlers that were in place before :func:`catch_stop_signals`; forget the recorded signal."""
    for signum, handler in _CATCHER.previous.items():
        if signal.getsignal(signum) == _CATCHER.handle:
            signal.signal(signum, handler)
    _CATCHER.previous, _CATCHER.received, _CATCHER.armed = {}, None, False


@contextmanager
def armed() -> Iterator[None]:
    """For the body, a stop signal raises :class:`StopRequested` (at once if one was recorded before); the handlers
    in place before are put back afterwards."""
    catch_stop_signals()
    try:
        if _CATCHER.received is not None:
            raise StopRequested(_CATCHER.received)
        _CATCHER.armed = True
        yield
    finally:
        release()
