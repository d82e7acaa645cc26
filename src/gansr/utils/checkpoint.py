"""Loading weight files safely (docs/methods.md §2.2, 1.9 #8, 3).

* :func:`safe_load` - ``torch.load(weights_only=True)``; a file that needs code to unpickle is refused, a file
  changed after it was written (:func:`check_integrity`: a stored CRC-32 does not match) too.
* :func:`extract_state_dict` - unwraps BasicSR ``params``/``params_ema``, gansr exports, Lightning checkpoints
  (``state_dict`` with a ``generator.`` prefix) and DataParallel ``module.`` prefixes.
* :func:`read_state_dict` / :func:`load_generator_weights` - the above, the official key schemes renamed to
  gansr's (:mod:`gansr.utils.key_schemes`), then a strict load that names the keys that do not fit.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gansr.utils.errors import GansrError
from gansr.utils.key_schemes import (  # CheckpointMismatchError: also raised by the renaming
    CheckpointMismatchError,
    StateDict,
    detect_scheme,
    name_examples,
    to_gansr_keys,
)


class UnsafeCheckpointError(GansrError, RuntimeError):
    """The file holds pickled Python objects that ``weights_only=True`` refuses (possible code execution)."""


class DamagedCheckpointError(GansrError, ValueError):
    """The file's bytes changed after it was written (a stored CRC-32 does not match): a disk, copy or transfer
    error. ``torch.load`` checks no checksum and would load the damaged tensors. ``reason`` says what is damaged."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path} is damaged: {reason}; use another copy or an earlier checkpoint")


# ----------------------------------------------------------------------------------------------- reading files
def check_integrity(path: str | Path) -> None:
    """Check every member of a PyTorch file against the CRC-32 its zip directory stores (``torch.save``'s format
    since PyTorch 1.6 stores one per tensor and for the pickle; ``zipfile.ZipFile.testzip``). Reads the whole file
    once. A file in the older non-zip format has no checksums and is left to ``torch.load``.

    Raises:
        DamagedCheckpointError: naming the file and the first member whose bytes do not match, or the zip
            directory's damage.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as err:
        raise DamagedCheckpointError(path, f"its zip structure does not read ({err})") from None
    if damaged is not None:
        raise DamagedCheckpointError(path, f"its member {damaged} fails its CRC-32 check (the file changed after "
                                           "it was written)")


def safe_load(path: str | Path) -> dict:
    """Read a checkpoint with ``torch.load(path, map_location="cpu", weights_only=True)`` (a ``.safetensors`` file
    with ``safetensors.torch.load_file``).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the pickle needs globals beyond tensors and plain containers (e.g. a whole pickled
            model, or a class whose ``__reduce__`` runs code); nothing from it is executed.
        ValueError: not a PyTorch file.
        TypeError: not a dict at the top level.
        DamagedCheckpointError: a ``ValueError``; the file changed after it was written (:func:`check_integrity`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix.lower() == ".safetensors":  # tensors only by design: no pickle at all
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except SafetensorError as err:
            raise ValueError(f"{path} is not a readable safetensors file: {err}") from None
    check_integrity(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err) or "Unsupported operand" in str(err):
            reason = str(err).split("WeightsUnpickler error:")[-1].split("Check the documentation")[0].strip()
            raise ValueError(f"{path} is not a readable PyTorch checkpoint: {reason}") from None
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"it needs {found.group(1)}" if found else "it holds Python objects"
        raise UnsafeCheckpointError(
            f"refused to unpickle {path}: {what}; gansr only loads tensors. Re-save just the weights from code you "
            "trust: torch.save(model.state_dict(), 'G.pth')"
        ) from None
    except (RuntimeError, KeyError, EOFError) as err:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {type(err).__name__}: {err}") from None
    if not isinstance(obj, Mapping):
        raise TypeError(f"{path}: expected a dict of tensors at the top level, got {type(obj).__name__}")
    return dict(obj)


def extract_state_dict(obj: Mapping, key: str | None = None) -> StateDict:
    """The generator's tensors inside a loaded checkpoint.

    * Lightning checkpoint (has ``state_dict``): the entries under the prefix ``key`` (default ``generator``),
      prefix removed; e.g. ``key="extractor"`` or ``key="generator_ema.generator"``.
    * BasicSR / gansr export (``params``, ``params_ema``, ``extractor``): ``obj[key]`` (default ``params``, or
      ``params_ema`` in a file holding only that, as BasicSR's model zoo); a missing ``key`` falls back to the entry
      that is there, with a warning, as BasicSR's ``load_network``.
    * Otherwise ``obj`` itself is the state dict.

    ``module.`` prefixes (DataParallel) are removed. Raises KeyError/TypeError naming what is there instead.
    """
    if isinstance(obj.get("state_dict"), Mapping):
        prefix = f"{key or 'generator'}."
        state = {k[len(prefix) :]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
        if not state:
            present = sorted({k.split(".")[0] for k in obj["state_dict"]})
            raise KeyError(f"Lightning checkpoint has no '{prefix}*' tensors; prefixes present: {present}; pass key=")
    elif key is not None and key in obj:
        state = obj[key]
    elif "params" in obj or "params_ema" in obj:
        present = "params" if "params" in obj else "params_ema"  # a model-zoo file may hold params_ema only
        if key is not None:  # not in obj (the branch above took it otherwise)
            warnings.warn(f"checkpoint has no '{key}' entry; using '{present}' (BasicSR fallback)", stacklevel=2)
        state = obj[present]
    elif key is not None:
        raise KeyError(f"checkpoint has no entry '{key}'; top-level keys: {sorted(obj)[:8]}")
    else:
        state = obj
    if not isinstance(state, Mapping):
        raise TypeError(f"expected a state dict (name -> tensor), got {type(state).__name__}")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise TypeError(f"not a state dict: entries {not_tensors[:4]} are not tensors; pass key= to pick the weights")
    return {k.removeprefix("module."): v for k, v in state.items()}


# ----------------------------------------------------------------------------------------------- loading
def read_state_dict(source: str | Path | Mapping, key: str | None = None) -> StateDict:
    """File path, loaded checkpoint or state dict -> state dict in gansr names (see :func:`extract_state_dict`)."""
    obj = safe_load(source) if isinstance(source, (str, Path)) else source
    return to_gansr_keys(extract_state_dict(obj, key))


@dataclass
class LoadReport:
    """Keys a non-strict :func:`load_generator_weights` left alone (gansr names)."""

    missing: list[str]
    unexpected: list[str]


def load_generator_weights(
    model: nn.Module, path_or_state_dict: str | Path | Mapping, strict: bool = True, key: str | None = None
) -> LoadReport:
    """Load weights in any supported scheme/wrapping into ``model`` (gansr names).

    Args:
        model: the network to fill (in place).
        path_or_state_dict: a file, a loaded checkpoint dict, or a state dict.
        strict: every model key must be provided and no extra key may remain (shapes must always match).
        key: which entry/prefix holds the weights (see :func:`extract_state_dict`).

    Raises:
        CheckpointMismatchError: naming the first missing, unexpected and shape-mismatched keys.
    """
    obj = safe_load(path_or_state_dict) if isinstance(path_or_state_dict, (str, Path)) else path_or_state_dict
    raw = extract_state_dict(obj, key)
    state = to_gansr_keys(raw)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if mismatched or (strict and (missing or unexpected)):
        source = path_or_state_dict if isinstance(path_or_state_dict, (str, Path)) else "the state dict"
        parts = [
            f"{len(names)} {what}: {name_examples(names)}"
            for what, names in (("missing", missing), ("unexpected", unexpected), ("with other shapes", mismatched))
            if names
        ]
        raise CheckpointMismatchError(
            f"{source} ({detect_scheme(raw)} keys) does not fit {type(model).__name__}: {'; '.join(parts)}. "
            "Another architecture, scale or size? Check the generator config (num_block, num_feat, in_channels, scale)"
        )
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return LoadReport(missing=missing, unexpected=unexpected)
