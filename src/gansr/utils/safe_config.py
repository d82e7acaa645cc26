"""Building objects from configs read out of files, without letting a file choose the code that runs.

Generator files (``generator.pth``) and a run folder's saved config are data. Handing their ``_target_`` to
Hydra's ``instantiate`` would let a file call any importable function (``torch.load`` of a pickle, ``os.system``):
loading with ``weights_only=True`` protects the tensors, not the config next to them. So:

* :func:`build_architecture` builds a network of a generator file: its ``_target_`` must name one of the
  project's own architectures in :data:`ARCHITECTURES` exactly, every argument must be a parameter of that class,
  and every value a plain number, string, boolean, None or a list of those. Nothing is imported by name.
* :func:`check_targets` vets a whole run config (``gansr.analysis``) before ``instantiate``: every ``_target_``
  must lie in the ``gansr`` package or ``torch.optim`` and resolve to an ``nn.Module``, optimizer or
  learning-rate scheduler class (no functions, no other packages).
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from gansr.archs.bicubic import BicubicUpsampler
from gansr.archs.edsr import EDSR
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.archs.srresnet import SRResNet
from gansr.utils.errors import GansrError

# The networks a generator file may describe: generators and Fs-SRGAN's shared extractor, by import path.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    f"{cls.__module__}.{cls.__qualname__}": cls for cls in (RRDBNet, SRResNet, EDSR, BicubicUpsampler, SharedExtractor)
}
_RUN_CONFIG_PACKAGES = ("gansr.", "torch.optim.")
_RUN_CONFIG_BASES = (nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)
_PLAIN = (bool, int, float, str, type(None))


class UnsafeConfigError(GansrError, ValueError):
    """A config read from a file names code outside the allow-list (or passes non-plain arguments to it)."""


def _is_plain(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def build_architecture(node: Mapping, source: str | Path) -> nn.Module:
    """The network described by ``node`` = ``{"_target_": "<module>.<Class>", **plain arguments}``.

    Raises:
        UnsafeConfigError: the target is not in :data:`ARCHITECTURES`, an argument is not a parameter of that
            class, or a value is not plain data (a nested config could name code). Nothing is called then.
    """
    if not isinstance(node, Mapping):
        raise UnsafeConfigError(f"{source}: the network config must be a mapping, got {type(node).__name__}")
    target = node.get("_target_")
    cls = ARCHITECTURES.get(target) if isinstance(target, str) else None
    if cls is None:
        names = ", ".join(sorted(c.__name__ for c in ARCHITECTURES.values()))
        raise UnsafeConfigError(
            f"{source}: refusing to build {target!r}: a generator file may only name one of gansr's architectures "
            f"({names}) by its import path"
        )
    arguments = {k: v for k, v in node.items() if k != "_target_"}
    accepted = inspect.signature(cls).parameters
    for name, value in arguments.items():
        if name not in accepted:
            raise UnsafeConfigError(f"{source}: {cls.__name__} has no argument {name!r}")
        if not _is_plain(value):
            raise UnsafeConfigError(
                f"{source}: argument {name!r} of {cls.__name__} must be a number, string, boolean or a list of "
                f"those, got {type(value).__name__}"
            )
    return cls(**arguments)


def _locate_class(target: str, source: str | Path) -> type:
    """Import ``target`` (already known to lie in an allowed package) and return it if it is an allowed class."""
    module_name, _, attribute = target.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError):
        raise UnsafeConfigError(f"{source}: _target_ {target!r} does not name a gansr or torch.optim class") from None
    if not (inspect.isclass(found) and issubclass(found, _RUN_CONFIG_BASES)):
        raise UnsafeConfigError(
            f"{source}: _target_ {target!r} is not a network, loss, optimizer or scheduler class; refusing it"
        )
    return found


def check_targets(node: object, source: str | Path) -> None:
    """Raise :class:`UnsafeConfigError` unless every ``_target_`` in ``node`` (a plain container tree) names an
    ``nn.Module``, optimizer or scheduler class inside the ``gansr`` package or ``torch.optim``."""
    if isinstance(node, Mapping):
        target = node.get("_target_")
        if target is not None:
            if not (isinstance(target, str) and target.startswith(_RUN_CONFIG_PACKAGES)):
                raise UnsafeConfigError(
                    f"{source}: _target_ {target!r} lies outside gansr and torch.optim; refusing to build it"
                )
            _locate_class(target, source)
        for value in node.values():
            check_targets(value, source)
    elif isinstance(node, (list, tuple)):
        for value in node:
            check_targets(value, source)
