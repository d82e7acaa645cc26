"""One way for every console command to report an error the user can act on: one line, exit status 1.

    @report_errors("gansr-eval")
    def main(cfg): ...

:class:`gansr.utils.errors.GansrError` (a bad value, a missing dataset or weight file, an unsafe file, a refused
request, a divergence) and ``OSError`` (a missing or unreadable file, a read-only folder, a full disk) become
``gansr-eval: error: <message>`` on stderr and exit status 1. Anything else is a bug and keeps its traceback.
``HYDRA_FULL_ERROR=1`` (Hydra's own switch, the one variable for every gansr command) shows the traceback of these
errors too. See docs/reliability.md ("Errors").
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TypeVar

from gansr.utils.errors import GansrError

#: set to 1 for the full traceback of the errors that are otherwise reported in one line
FULL_ERROR_VARIABLE = "HYDRA_FULL_ERROR"
#: the errors reported in one line
USER_ERRORS: tuple[type[BaseException], ...] = (GansrError, OSError)

F = TypeVar("F", bound=Callable)


def full_error_wanted() -> bool:
    """Whether ``HYDRA_FULL_ERROR=1`` asks for tracebacks."""
    return os.environ.get(FULL_ERROR_VARIABLE, "") == "1"


def error_message(err: BaseException) -> str:
    """The message of ``err`` for a person: an ``OSError`` as ``<file>: <reason>`` (``[Errno 28] ...`` without the
    number), a ``KeyError`` without its quotes, anything else as ``str(err)`` (its class name when empty)."""
    if isinstance(err, OSError) and not isinstance(err, GansrError) and err.strerror:
        where = f"{err.filename}: " if err.filename is not None else ""
        also = f" -> {err.filename2}" if err.filename2 is not None else ""
        return f"{where}{err.strerror}{also}"
    if isinstance(err, KeyError) and len(err.args) == 1:
        return str(err.args[0])
    return str(err).strip() or type(err).__name__


def exit_with_error(prog: str, err: BaseException) -> SystemExit:
    """The ``SystemExit`` that prints ``<prog>: error: <message>`` on stderr and ends with status 1."""
    return SystemExit(f"{prog}: error: {error_message(err)}")


def report_errors(prog: str, also: tuple[type[BaseException], ...] = ()) -> Callable[[F], F]:
    """Decorator for a command's main function: :data:`USER_ERRORS` (and ``also``: the commands whose whole job is
    reading files the user names, such as gansr-convert, add ``ValueError``/``KeyError``/... from the readers) end
    the command with one line (see the module docstring); with ``HYDRA_FULL_ERROR=1`` they are raised as they are."""
    caught = USER_ERRORS + tuple(also)

    def decorate(main: F) -> F:
        @functools.wraps(main)
        def run(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except caught as err:
                if full_error_wanted():
                    raise
                raise exit_with_error(prog, err) from None

        return run  # type: ignore[return-value]

    return decorate
