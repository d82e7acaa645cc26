"""The errors a user can act on: a file, a value or the machine is not as a command needs it.

:class:`GansrError` marks them. Every console command (``gansr-train``, ``gansr-eval``, ...) prints such an error
as one line, ``gansr-<command>: error: <message>``, and exits with status 1, without a traceback
(``gansr.cli.errors``; ``HYDRA_FULL_ERROR=1`` shows the traceback). Any other exception is a bug of gansr or of a
library and keeps its traceback. The message names the file or value and says what to do instead.

Subclasses also derive from the built-in class a caller would catch (``ValueError``, ``FileNotFoundError``,
``OSError``, ``RuntimeError``), so ``except ValueError`` keeps working.
"""
from __future__ import annotations


class GansrError(Exception):
    """An error whose message, on its own, tells the user what went wrong and what to do (see the module doc)."""


class InvalidValueError(GansrError, ValueError):
    """A value given on the command line or in a config is out of range or unknown (a scale, a set, a metric)."""
