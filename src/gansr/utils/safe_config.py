"""Building objects from configs read out of files, without letting a file choose the code that runs.

Generator files (``generator.pth``), a run folder's recorded config and ``--arch`` YAML files are data. Handing
their ``_target_`` to Hydra's ``instantiate`` would let a file call any importable function (``torch.load`` of a
pickle, ``builtins.open``, ``shutil.copyfile``), and resolving their interpolations would run resolvers
(``${oc.create:...}`` builds a new config that ``instantiate`` then follows). So nothing read from a file reaches
``instantiate`` or a resolver (YAML is read by :mod:`gansr.utils.yaml_data`); objects are built here:

* :func:`build_object` builds ``{"_target_": <registered name>, **arguments}`` from an explicit allow-list
  (:func:`registry`): the target must be one of its names exactly (nothing is imported by name), the only other
  key with an underscore is ``_partial_: true`` (an optimizer or scheduler factory; ``_args_``, ``_recursive_``,
  ``_convert_`` are refused), every argument must be a parameter of that class, and every value plain data
  (number, string, boolean, None, lists of those) or, where allowed, a nested node of the same allow-list.
  Integer arguments of gansr's networks (``num_block``, ``num_feat``, ``scale``...) are bounded by
  :data:`MAX_SIZE_ARGUMENT`, so a crafted file cannot ask for 10^7 blocks.
* :func:`build_fitting` builds on the ``meta`` device first (no memory, no weights; stopped early when it grows far
  beyond the weights) and compares its state dict's keys and shapes with the weights that will be loaded; only a
  config that fits them is built for real.
* :func:`build_architecture` is the two for the networks a generator file may describe (:data:`ARCHITECTURES`);
  ``gansr.training.rebuild`` is the two for a run's whole training module.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from gansr.archs.bicubic import BicubicUpsampler
from gansr.archs.edsr import EDSR
from gansr.archs.msrresnet import MSRResNet
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.shared_extractor import SharedExtractor
from gansr.archs.srresnet import SRResNet
from gansr.archs.srresnet_basicsr import SRResNetBasicSR
from gansr.utils.checkpoint import CheckpointMismatchError
from gansr.utils.errors import GansrError

#: integer arguments of gansr's networks lie in [-MAX_SIZE_ARGUMENT, MAX_SIZE_ARGUMENT]: the paper presets use at
#: most 256 (EDSR's num_feat; RRDBNet has 23 blocks, discriminators take 192-pixel patches)
MAX_SIZE_ARGUMENT = 1024
_SIZED_PACKAGE = "gansr.archs."
_PLAIN = (bool, int, float, str, type(None))


class UnsafeConfigError(GansrError, ValueError):
    """A config read from a file names code outside the allow-list (or passes non-plain arguments to it)."""


def registry(*classes: type, public: Mapping[str, type] | None = None) -> dict[str, type]:
    """An allow-list for :func:`build_object`: each class under its import path ``module.QualName``, plus the
    ``public`` names (``"gansr.GANModule"``) that configs use for the same classes."""
    names = {f"{cls.__module__}.{cls.__qualname__}": cls for cls in classes}
    return names | dict(public or {})


# The networks a generator file may describe: generators and Fs-SRGAN's shared extractor, by import path.
ARCHITECTURES: dict[str, type] = registry(RRDBNet, SRResNet, SRResNetBasicSR, MSRResNet, EDSR, BicubicUpsampler,
                                          SharedExtractor)


def _is_plain(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def _integers(value: object) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [i for v in value for i in _integers(v)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def _accepted_parameters(cls: type) -> set[str]:
    """The keyword arguments ``cls`` takes: its ``__init__``'s, and its bases' while they pass ``**kwargs`` on."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass in (object, nn.Module):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names


def build_object(node: object, allowed: Mapping[str, type], source: str | Path, *, nested: bool = False,
                 where: str = "") -> object:
    """The object ``node`` = ``{"_target_": <a name in allowed>, ["_partial_": true,] **arguments}`` describes
    (a ``functools.partial`` of the class for ``_partial_: true``); ``where`` is the node's key in errors.

    ``nested``: an argument may itself be such a node (a GAN module's generator, losses, optimizers), built first
    from the same allow-list; otherwise every argument must be plain data.

    Raises:
        UnsafeConfigError: anything outside the rules of the module docstring, before anything is built.
    """
    label = f"{where}: " if where else ""
    if not isinstance(node, Mapping):
        raise UnsafeConfigError(f"{source}: {label}expected a config mapping, got {type(node).__name__}")
    target = node.get("_target_")
    cls = allowed.get(target) if isinstance(target, str) else None
    if cls is None:
        names = sorted({c.__name__ for c in allowed.values()})
        known = ", ".join(names) if len(names) <= 8 else f"{len(names)} networks, losses, modules and optimizers"
        raise UnsafeConfigError(f"{source}: {label}refusing to build {target!r}: a file may only name one of gansr's "
                                f"own classes by its import path ({known})")
    partial = node.get("_partial_", False)
    if not isinstance(partial, bool):
        raise UnsafeConfigError(f"{source}: {label}_partial_ must be true or false, got {partial!r}")
    accepted = _accepted_parameters(cls)
    sized = target.startswith(_SIZED_PACKAGE)
    arguments = {}
    for name, value in node.items():
        if name in ("_target_", "_partial_"):
            continue
        key = f"{where}.{name}" if where else str(name)
        at = f" (at {key})" if where else ""
        if not isinstance(name, str) or name.startswith("_") or name not in accepted:
            raise UnsafeConfigError(f"{source}: {cls.__name__} has no argument {name!r}{at}; refusing the config")
        if isinstance(value, Mapping) and nested:
            arguments[name] = build_object(value, allowed, source, nested=True, where=key)
            continue
        if not _is_plain(value):
            raise UnsafeConfigError(f"{source}: argument {name!r} of {cls.__name__}{at} must be a number, string, "
                                    f"boolean or a list of those, got {type(value).__name__}")
        if sized and any(abs(i) > MAX_SIZE_ARGUMENT for i in _integers(value)):
            raise UnsafeConfigError(f"{source}: {key}={value!r} is out of bounds for {cls.__name__} (at most "
                                    f"{MAX_SIZE_ARGUMENT}); refusing to build it")
        arguments[name] = value
    return functools.partial(cls, **arguments) if partial else cls(**arguments)


def check_fits(network: nn.Module, weights: Mapping[str, torch.Tensor], source: str | Path, what: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``network``'s state dict has exactly the keys of
    ``weights``, with the same shapes (``network`` may live on the ``meta`` device)."""
    own = network.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    reshaped = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                if k in weights and tuple(getattr(weights[k], "shape", ())) != tuple(v.shape)]
    if missing or unexpected or reshaped:
        parts = [f"{len(keys)} {kind}: {', '.join(keys[:3])}" for kind, keys in
                 (("missing", missing), ("unexpected", unexpected), ("with other shapes", reshaped)) if keys]
        raise CheckpointMismatchError(f"{source}: {what} weights do not fit the stored architecture "
                                      f"{type(network).__name__} ({'; '.join(parts)})")


class _TorchCallBudget(TorchFunctionMode):
    """Counts the torch calls made while a network is built (tensor creation and initialisation: about 10 per
    weight tensor) and stops the build past ``limit``: a meta-device build costs time in proportion to it."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.calls, self.limit = 0, limit

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        if self.calls > self.limit:
            raise _OverBudget
        return func(*args, **(kwargs or {}))


class _OverBudget(Exception):
    pass


#: torch calls a meta-device build may make per weight tensor (a conv layer makes about 10)
CALLS_PER_TENSOR = 64


def build_fitting(build: Callable[[], nn.Module], weights: Mapping[str, torch.Tensor], source: str | Path,
                  what: str) -> nn.Module:
    """``build()`` once on the ``meta`` device, checked against ``weights`` (:func:`check_fits`), then for real:
    a config that does not match its weights is refused before it allocates anything. The meta build itself is
    stopped once it makes more than :data:`CALLS_PER_TENSOR` torch calls per weight tensor (plus a margin): an
    architecture far larger than its weights is refused in time proportional to the weights file."""
    budget = _TorchCallBudget(CALLS_PER_TENSOR * (len(weights) + 16))
    try:
        with torch.device("meta"), budget:
            skeleton = build()
    except UnsafeConfigError:
        raise
    except _OverBudget:
        raise CheckpointMismatchError(f"{source}: the stored architecture is far larger than its {len(weights)} "
                                      "weight tensors; refusing to build it") from None
    except Exception as err:  # noqa: BLE001 - any error of a gansr constructor's own checks (a negative width)
        raise UnsafeConfigError(f"{source}: the stored architecture cannot be built: {err}") from None
    check_fits(skeleton, weights, source, what)
    return build()


def build_architecture(node: Mapping, source: str | Path,
                       weights: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """The network described by ``node`` = ``{"_target_": "<module>.<Class>", **plain arguments}``, one of
    :data:`ARCHITECTURES`; with ``weights`` (its state dict, gansr key names), built only once its meta-device
    twin matches them (:func:`build_fitting`).

    Raises:
        UnsafeConfigError: the target is not in :data:`ARCHITECTURES`, an argument is not a parameter of that
            class, out of bounds, or not plain data (a nested config could name code). Nothing is called then.
        CheckpointMismatchError: ``weights`` do not fit the network ``node`` describes.
    """
    def build() -> nn.Module:
        return build_object(node, ARCHITECTURES, source)

    return build() if weights is None else build_fitting(build, weights, source, "the")
