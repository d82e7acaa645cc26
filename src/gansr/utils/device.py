"""The device a command runs on, checked before any work: a name torch does not know, or a GPU this machine does
not have, is one line that says what to pass (``--device`` of gansr-upscale, ``device=`` of gansr-eval)."""
from __future__ import annotations

import torch

from gansr.utils.errors import InvalidValueError


def default_device() -> str:
    """``"cuda"`` when a CUDA GPU is usable, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def usable_device(name: str | None, option: str = "--device ") -> torch.device:
    """``name`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``; None: :func:`default_device`) as a ``torch.device``.

    Raises:
        InvalidValueError: torch does not know the name, or the machine has no such device (``option`` names the
            setting in the message).
    """
    if name is None:
        return torch.device(default_device())
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InvalidValueError(f"{option}{name}: not a device name; use cpu, cuda or cuda:<index>") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidValueError(f"{option}{name}: this machine has no usable CUDA GPU; use {option}cpu")
        if device.index is not None and device.index >= count:
            raise InvalidValueError(f"{option}{name}: this machine has {count} CUDA GPU(s) (cuda:0 to "
                                    f"cuda:{count - 1})")
    elif device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InvalidValueError(f"{option}{name}: MPS is not available here; use {option}cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InvalidValueError(f"{option}{name}: gansr runs on cpu, cuda or mps")
    return device
