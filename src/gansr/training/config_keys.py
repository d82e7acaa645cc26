"""Configs that do nothing are refused: every key of a run's composed config is read by some part of the run.

Hydra composes every group of ``conf/train.yaml``'s defaults list, so a PSNR stage carried ``discriminator``, ``gan``
and ``loss`` groups it never reads (``loss.*`` overrides there changed nothing), and a typo added with ``+``
(``+loss.adversarial_wieght=1``, as Hydra's own hint suggests) trained with the typo ignored. Before anything is
built, :func:`check_config_keys` works out which keys the run reads:

* the keys the training script reads itself (:class:`ConfigReads`, declared next to the script): whole subtrees
  (``module``, ``trainer``, ...) and mappings read key by key with a fixed set of keys (``speed``, ``paths``);
* in a node with ``_target_``: the keys its constructor accepts (its signature; a ``**kwargs`` that a subclass passes
  on is followed up the class's bases), with their values read in turn;
* every ``${a.b}`` (and ``${oc.select:a.b,...}``) in a value that is read: the node it names, read in turn.

A top-level key nothing reads (the ``discriminator`` group of a PSNR stage) is dropped from the run's config, so the
printed tree and ``hparams.yaml`` show only what the stage uses, unless a command-line override sets it: then that
override changes nothing and the run is refused. Any other key nothing reads (a typo, a key a class does not take)
is refused, named with the closest real key (``difflib``). docs/configs.md.
"""
from __future__ import annotations

import copy
import difflib
import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf, open_dict

from gansr.utils.errors import GansrError

#: keys of a ``_target_`` node that Hydra's ``instantiate`` reads itself
INSTANTIATE_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})
_NODE_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.\-]*)\}")
_SELECT_REFERENCE = re.compile(r"\$\{oc\.select:([A-Za-z_][\w.\-]*)")


class UnusedConfigKeyError(GansrError, ValueError):
    """Keys of the composed config that no part of the run reads; the one-line message names each, with the closest
    real key, and says what to do."""


@dataclass(frozen=True)
class ConfigReads:
    """What a training script reads from the composed config itself.

    Attributes:
        whole: top-level keys read as a whole (built by ``instantiate``, or passed on as they are).
        keys: top-level mappings read key by key, with the keys they may hold.
    """

    whole: tuple[str, ...]
    keys: Mapping[str, frozenset[str]] = field(default_factory=dict)


def accepted_arguments(target: str) -> frozenset[str] | None:
    """The keyword arguments the callable ``target`` (a ``_target_`` path) accepts; None when it takes any.

    A class whose ``__init__`` has ``**kwargs`` is taken to pass them on to its base class (the project's GAN
    variants do), whose arguments are added; a function with ``**kwargs`` accepts any.
    """
    from hydra.utils import get_object

    try:
        obj = get_object(target)
    except Exception:  # noqa: BLE001 - a target that does not import: instantiate reports it when it builds the node
        return None
    names: set[str] = set()
    for owner in (obj.__mro__ if inspect.isclass(obj) else (obj,)):
        function = owner.__init__ if inspect.isclass(obj) else owner
        if inspect.isclass(obj) and "__init__" not in vars(owner):
            continue
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return frozenset(names - {"self"})
        if not inspect.isclass(obj):
            return None
    return None


def _references(value: str) -> list[tuple[str, ...]]:
    return [tuple(ref.split(".")) for ref in _NODE_REFERENCE.findall(value) + _SELECT_REFERENCE.findall(value)]


def _leaves(node, path: tuple = ()) -> Iterable[tuple]:
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


class _ReadKeys:
    """Walks the raw (unresolved) config from the script's reads and collects the paths read, and the keys no part
    accepts with their candidates for a "did you mean"."""

    def __init__(self, raw: dict) -> None:
        self.raw = raw
        self.read: set[tuple] = set()  # paths read, and the mappings on the way to them
        self._visited: set[tuple] = set()
        self.rejected: dict[tuple, tuple[Iterable[str], str]] = {}  # path -> (keys accepted there, by what)

    def node(self, path: tuple):
        node = self.raw
        for key in path:
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
            else:
                return None
        return node

    def visit(self, path: tuple) -> None:
        if path in self._visited:
            return
        self._visited.add(path)
        self.read.add(path)
        for i in range(1, len(path)):  # the mappings on the way are read too (an interpolation into a subtree)
            self.read.add(path[:i])
        value = self.node(path)
        if isinstance(value, str):
            for ref in _references(value):
                if ref[0] != "hydra":
                    self.visit(ref)
        elif isinstance(value, list):
            for index in range(len(value)):
                self.visit((*path, index))
        elif isinstance(value, Mapping):
            target = value.get("_target_")
            accepted = accepted_arguments(target) if isinstance(target, str) else None
            for key in value:
                if accepted is None or key in INSTANTIATE_KEYS or key in accepted:
                    self.visit((*path, key))
                else:
                    self.rejected[(*path, key)] = (accepted, f"an argument of {target}")

    def visit_keys(self, path: tuple, allowed: frozenset[str]) -> None:
        value = self.node(path)
        self.read.add(path)
        if not isinstance(value, Mapping):
            return
        for key in value:
            if key in allowed:
                self.visit((*path, key))
            else:
                self.rejected[(*path, key)] = (allowed, f"one of the {_dotted(path)} settings")


def override_key(override: str) -> str:
    """``+loss.adversarial_wieght=1`` -> ``loss.adversarial_wieght``; ``discriminator=unet`` -> ``discriminator``."""
    return override.lstrip("~+").split("=", 1)[0].split("@", 1)[0].replace("/", ".")


def _closest(key: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def check_config_keys(cfg: DictConfig, reads: ConfigReads, overrides: Iterable[str] | None = None) -> DictConfig:
    """The run's config without its top-level keys that nothing reads (module docstring), after checking that
    every other key is read.

    Args:
        cfg: the composed config (its ``hydra`` node, if any, is left alone and kept).
        reads: what the training script reads itself.
        overrides: the command-line overrides, to tell a group the stage does not read from an override that
            changes nothing; default: Hydra's ``hydra.overrides.task`` of this run (none outside Hydra).

    Raises:
        UnusedConfigKeyError: an override sets a key of a group the run does not read, or a key is read by nothing.
    """
    raw = OmegaConf.to_container(cfg, resolve=False)
    raw.pop("hydra", None)
    walk = _ReadKeys(raw)
    for key in reads.whole:
        if key in raw:
            walk.visit((key,))
    for key, allowed in reads.keys.items():
        if key in raw:
            walk.visit_keys((key,), allowed)
    unread_groups = [key for key in raw if (key,) not in walk.read]
    problems = []
    if overrides is None:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    module = raw.get("module", {}).get("_target_", "?") if isinstance(raw.get("module"), Mapping) else "?"
    for override in overrides:
        top = override_key(override).split(".", 1)[0]
        if top in unread_groups:
            problems.append(f"{override} changes nothing: this run (module {module}) reads no {top}"
                            + _closest(top, [k for k in raw if k not in unread_groups]))
    for path, (accepted, owner) in walk.rejected.items():  # keys a constructor or a settings mapping does not take
        if path[0] not in unread_groups:
            problems.append(f"{_dotted(path)} is not {owner}"
                            + _closest(_dotted(path), [_dotted((*path[:-1], c)) for c in accepted]))
    for path in _leaves({k: v for k, v in raw.items() if k not in unread_groups}):  # keys nothing else reads
        if path and path not in walk.read and not any(path[:i] in walk.rejected for i in range(1, len(path) + 1)):
            siblings = [_dotted(p) for p in walk.read if len(p) == len(path) and p[:-1] == path[:-1]]
            problems.append(f"{_dotted(path)} is read by no part of this run" + _closest(_dotted(path), siblings))
    if problems:
        raise UnusedConfigKeyError("; ".join(problems) + ". Remove it or correct the name: a key that nothing reads "
                                   "would change nothing (docs/configs.md)")
    used = copy.deepcopy(cfg)
    with open_dict(used):
        for key in unread_groups:
            used.pop(key)
    return used


def unread_groups(cfg: DictConfig, reads: ConfigReads) -> set[str]:
    """The top-level keys of ``cfg`` that nothing reads (e.g. ``discriminator`` of a PSNR stage): overrides of
    them are refused by :func:`check_config_keys`, so callers that pass one set of overrides to several stages
    (``gansr-demo``, the tables) leave those out for the stage."""
    return set(cfg.keys()) - set(check_config_keys(cfg, reads, overrides=()).keys())


def stage_overrides(cfg: DictConfig, reads: ConfigReads, overrides: Iterable[str]) -> list[str]:
    """The ``overrides`` that apply to the stage composed as ``cfg``: those that set no group it does not read
    (``gansr-demo loss=fasrgan`` goes to the GAN stage only)."""
    skip = unread_groups(cfg, reads)
    return [o for o in overrides if override_key(o).split(".", 1)[0] not in skip]


def pretrain_note(cfg: DictConfig) -> str | None:
    """One line when a GAN preset that names its PSNR stage (``pretrain.preset``) starts without
    ``module.generator_init`` (legal: ablations train from random weights); None otherwise."""
    pretrain = cfg.get("pretrain")
    if not pretrain or not pretrain.get("preset") or cfg.get("resume") is not None:
        return None
    if OmegaConf.select(cfg, "module.generator_init") is not None:
        return None
    return (f"[gansr] note: this GAN stage starts from random weights, not from its PSNR stage "
            f"{pretrain.preset} (module.generator_init=<{pretrain.preset} run>/checkpoints/last.ckpt); fine for an "
            "ablation")
