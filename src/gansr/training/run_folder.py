"""Never two runs in one run folder: a new run refuses a folder that holds an earlier run (docs/reliability.md).

``run_name`` names the folder (``outputs/<task>/<run_name>``). Training a second time under a name that has run
before, without ``resume``, used to train into the same folder: the second run overwrote ``generator.pth`` and
``final_metrics.json`` and left the first run's ``iter_*.ckpt`` beside its own ``last.ckpt``. Now it is refused in one
line that says how to continue that run (``resume=auto``) or start another (a new ``run_name``). Refusing, rather
than archiving the old folder as BasicSR does (``<name>_archived_<time>``), keeps every run where its name says and
never moves a folder a user, a notebook or a SLURM job may be reading.

A folder "holds a run" when it has a checkpoint (``checkpoints/*.ckpt``) or an exported ``generator.pth``: a run
that failed before its first checkpoint (a missing dataset, a typo) leaves only ``.hydra/`` and logs, and the same
command may be given again.
"""
from __future__ import annotations

import difflib
from pathlib import Path

from gansr.utils.errors import GansrError


class RunFolderTakenError(GansrError, ValueError):
    """A new run (no ``resume``) was given the folder of an earlier run; the message says what to pass instead."""


def earlier_run(folder: str | Path) -> list[str]:
    """The files that show ``folder`` holds a run: its checkpoints and ``generator.pth`` (relative names, sorted);
    empty when it holds none."""
    folder = Path(folder)
    found = sorted(str(p.relative_to(folder)) for p in (folder / "checkpoints").glob("*.ckpt"))
    return found + (["generator.pth"] if (folder / "generator.pth").is_file() else [])


def check_new_run_folder(folder: str | Path, resume: str | None) -> None:
    """Refuse to start a new run (``resume`` is None) in a folder that holds an earlier one.

    Raises:
        RunFolderTakenError: one line naming the folder, what it holds, ``resume=auto`` and a new ``run_name``.
    """
    if resume is not None:
        return
    found = earlier_run(folder)
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise RunFolderTakenError(
            f"run folder {folder} holds an earlier run ({shown}): continue it with resume=auto, or start a new run "
            f"with another run_name=... (two runs never share a folder)")


def no_earlier_run_line(folder: str | Path) -> str:
    """What ``resume=auto`` says when ``folder`` holds no checkpoint: that this run_name matches no earlier run
    (with the closest names of the runs beside it, if any), and that a new run starts."""
    folder = Path(folder)
    siblings = [p.name for p in folder.parent.iterdir() if p.is_dir() and p != folder and earlier_run(p)] \
        if folder.parent.is_dir() else []
    close = difflib.get_close_matches(folder.name, siblings, n=3, cutoff=0.6)
    hint = f" (runs with a close name in {folder.parent}: {', '.join(close)})" if close else ""
    return (f"[gansr] resume=auto: run_name={folder.name} matches no earlier run (no checkpoint in {folder}){hint}; "
            "starting a new run")
