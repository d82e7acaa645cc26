"""A run's text log: ``<run>/train.log`` and stdout for the whole of ``train()`` (docs/logging.md).

* :data:`LOG` (``gansr.train``) - the logger of every line a run writes: the ``resume=auto`` lines, the start
  line, the iteration and validation lines (:class:`gansr.training.console.IterationLog`), the stop message, the
  final metrics and, for a failure, its reason;
* :class:`RunLog` - sends :data:`LOG` to ``train.log`` (time-stamped; Hydra's job log file when there is one) and to
  stdout, through ``tqdm.write`` so that a progress bar stays below the lines;
* :func:`log_failure` - why a run ended with an error, in ``train.log`` only (the command prints it once);
* :func:`console_to_file` - a run's console output into a file instead (a table's smoke runs: one line per run).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

LOG = logging.getLogger("gansr.train")


class _IterationLinesOnTerminal(logging.Filter):
    """On a terminal with a progress bar, the per-interval lines stay out of stdout (the bar shows the same)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "iteration_line", False)


class _TqdmSafeStdout(logging.StreamHandler):
    """stdout through ``tqdm.write``: a line printed while a progress bar is on the terminal goes above the bar."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stdout)
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


class _NotOnConsole(logging.Filter):
    """Records logged with ``extra={"file_only": True}`` (a failure the command itself prints) stay off stdout."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


class _HeldUntilAccepted(logging.Handler):
    """Passes records to ``target`` once :meth:`accept` is called; until then holds them, and drops them if the run
    is never accepted (a refused request leaves the run folder's ``train.log`` as it was)."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__()
        self.target = target
        self.held: list[logging.LogRecord] | None = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.held is None:
            self.target.handle(record)
        else:
            self.held.append(record)

    def accept(self) -> None:
        held, self.held = self.held or [], None
        for record in held:
            self.target.handle(record)


class RunLog:
    """``with RunLog(<run>/train.log):`` sends :data:`LOG` (``gansr.train``) to that file, time-stamped, and to stdout
    for the body; nested uses (``train()`` around ``console.IterationLog``) share the outer one.

    Under ``@hydra.main`` the file is Hydra's job log and its handler is reused. ``echo_iterations=False`` keeps
    the iteration lines off stdout (a progress bar shows them). Records with ``extra={"file_only": True}`` go to
    the file only. ``held=True`` (``train()``): lines reach the file only once :meth:`accept` is called, when the
    run is accepted; a refused request writes nothing there.
    """

    def __init__(self, log_file: str | Path, echo_iterations: bool = True, held: bool = False) -> None:
        self.log_file = Path(log_file)
        self.echo_iterations = echo_iterations
        self.held = held
        self._gate: _HeldUntilAccepted | None = None
        self._added: list[logging.Handler] = []
        self._own: list[logging.Handler] = []
        self._propagate = True

    def accept(self) -> None:
        """The run is accepted: the held lines, and every later one, go to the file."""
        if self._gate is not None:
            self._gate.accept()

    def __enter__(self) -> RunLog:
        target = str(self.log_file.resolve())
        if any(getattr(h, "gansr_run_log", None) == target for h in LOG.handlers):
            return self  # an outer RunLog of the same run writes already
        LOG.setLevel(logging.INFO)
        self._propagate, LOG.propagate = LOG.propagate, False  # Hydra's console handler would print every line twice
        file_handler = next((h for h in logging.getLogger().handlers
                             if isinstance(h, logging.FileHandler) and h.baseFilename == target), None)
        if file_handler is None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(target, mode="a", encoding="utf-8", delay=True)
            file_handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%Y-%m-%d %H:%M:%S"))
            self._own.append(file_handler)
        if self.held:
            self._gate = file_handler = _HeldUntilAccepted(file_handler)
        console = _TqdmSafeStdout()
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(_NotOnConsole())
        if not self.echo_iterations:
            console.addFilter(_IterationLinesOnTerminal())
        console.gansr_run_log = target
        self._own.append(console)
        self._added = [file_handler, console]
        for handler in self._added:
            LOG.addHandler(handler)
        return self

    def __exit__(self, *exc) -> None:
        for handler in self._added:
            LOG.removeHandler(handler)
        for handler in self._own:
            handler.close()
        if self._added:
            LOG.propagate = self._propagate
        self._added, self._own = [], []


def log_failure(err: BaseException, iterations_done: int | None) -> None:
    """Write why the run ended with ``err`` into ``train.log`` (not on stdout: the command prints the error once),
    with the iterations done (None: it failed before training started). An error of gansr's users (``GansrError``,
    ``OSError``) is one line; any other keeps its traceback there."""
    from gansr.utils.errors import GansrError

    where = " before training started" if iterations_done is None else f" after {iterations_done:,} iteration(s)"
    if isinstance(err, (GansrError, OSError)):
        LOG.error(f"[gansr] the run failed{where}: {err}", extra={"file_only": True})
    elif isinstance(err, (KeyboardInterrupt, SystemExit)):  # Lightning ends a second Ctrl-C with exit(1)
        LOG.error(f"[gansr] the run was aborted{where} (a second Ctrl-C): nothing more was saved",
                  extra={"file_only": True})
    else:
        LOG.error(f"[gansr] the run failed{where}: {type(err).__name__}: {err}", exc_info=err, extra={"file_only": True})


#: Lightning's loggers of info lines ("Seed set to 0", "GPU available: ...")
_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")


@contextmanager
def console_to_file(path: str | Path) -> Iterator[None]:
    """For the body, what a run prints on stdout and stderr (config tree, iteration lines, warnings) is appended to
    ``path`` instead, and Lightning's info lines are dropped: a table trains many tiny runs and prints one line per
    run (``gansr.tables.run``); ``<run>/train.log`` keeps the run's own lines as always. An exception still
    reaches the caller (and its message the console)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    with open(path, "a", encoding="utf-8") as file, redirect_stdout(file), redirect_stderr(file):
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
