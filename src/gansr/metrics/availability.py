"""Which metrics can run on this machine: the ones whose weight / parameter files are on disk.

``gansr-eval`` and ``gansr-score`` use this when the user names no metrics: they score every metric of
:data:`DEFAULT_METRICS` whose files exist and say in one line which ones were left out and why. Nothing is downloaded
here (see ``gansr-fetch-weights`` for that); metrics named explicitly still fail on a missing file.
"""
from __future__ import annotations

import os
from pathlib import Path

from gansr.utils.weights import WEIGHT_FILES, find_shipped_niqe_params

__all__ = ["DEFAULT_METRICS", "available_metrics", "missing_weight_files"]

#: what a table reports when every file is present (PSNR/SSIM need no file)
DEFAULT_METRICS = ("psnr_y", "ssim_y", "lpips", "niqe", "ma", "pi")

#: metric name -> the WEIGHT_FILES keys it needs
_NEEDS = {"lpips": ("alexnet",), "niqe": ("niqe",), "ma": ("nrqm",), "pi": ("niqe", "nrqm")}


def _present(key: str, local_path: str | os.PathLike | None, search: tuple) -> bool:
    spec = WEIGHT_FILES[key]
    if local_path is not None:
        path = Path(local_path).expanduser()
        return (path / spec.filename if path.is_dir() else path).is_file()
    if key == "niqe" and find_shipped_niqe_params(*search) is not None:
        return True
    return (spec.folder() / spec.filename).is_file()


def missing_weight_files(
    names: list[str] | tuple[str, ...],
    *,
    niqe_params_path: str | os.PathLike | None = None,
    ma_params_path: str | os.PathLike | None = None,
    search: tuple[str | os.PathLike | None, ...] = (),
) -> dict[str, list[str]]:
    """``{metric: [missing file names]}`` for the metrics of ``names`` whose files are not on disk.

    ``search``: data folders next to which the official NIQE parameters may ship (``metrics/niqe/modelparameters.mat``).
    """
    local = {"niqe": niqe_params_path, "nrqm": ma_params_path, "alexnet": None}
    missing: dict[str, list[str]] = {}
    for name in names:
        files = [WEIGHT_FILES[key].filename for key in _NEEDS.get(name, ()) if not _present(key, local[key], search)]
        if files:
            missing[name] = files
    return missing


def available_metrics(
    names: list[str] | tuple[str, ...] = DEFAULT_METRICS,
    **kwargs,
) -> tuple[list[str], str | None]:
    """``(the names whose files exist, a one-line note on the others or None)``; ``kwargs`` as
    :func:`missing_weight_files`."""
    missing = missing_weight_files(names, **kwargs)
    kept = [name for name in names if name not in missing]
    if not missing:
        return kept, None
    reasons = ", ".join(f"{name} (no {' / '.join(files)})" for name, files in missing.items())
    note = (f"left out {reasons}: fetch the files with gansr-fetch-weights, or name the metrics to score "
            f"explicitly")
    return kept, note
