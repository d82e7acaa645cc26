"""Reading a YAML file from disk as plain data: bounded in size, no code, no interpolation resolvers.

A run folder's ``.hydra/config.yaml`` or ``hparams.yaml`` is a file anyone may have edited or crafted, so it is
read as data (docs/reliability.md, "Reading run folders and weight files"):

* :func:`read_yaml_data` - ``yaml.SafeLoader`` (no Python tags), at most :data:`MAX_YAML_BYTES` on disk and at
  most :data:`MAX_YAML_NODES` values once every alias is expanded (a 490-byte "billion laughs" alias bomb would
  otherwise expand to 10^9 values); no OmegaConf, so no resolver ever runs.
* :func:`resolve_references` - the one interpolation form ``gansr-train``'s configs record: a whole value
  ``${a.b.c}`` naming another node of the same file (``generator: ${generator}``, ``scale: ${scale}``), copied as
  data. Every other string holding ``${`` (a resolver ``${oc.create:...}``, ``${oc.env:...}``, a custom resolver,
  an escaped ``\\${...}``, text around a reference) is refused: it is never resolved.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from gansr.utils.errors import GansrError

#: a run's config is about 10 KB; anything past 1 MiB is not one
MAX_YAML_BYTES = 1 << 20
#: values (scalars, lists, mappings) after alias expansion or reference copying; a run config has about 600
MAX_YAML_NODES = 100_000

_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w-]*(?:\.[\w-]+)*)\}")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigFileError(GansrError, ValueError):
    """A YAML file that gansr does not read as data: too large, an alias bomb, not YAML, or an interpolation other
    than a plain reference. The message is one line naming the file and what is wrong."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int], limit: int) -> int:
    """Number of values under ``node`` with every alias expanded, computed without expanding (an alias is the
    same node object in the composed graph, so its size is looked up once); stops counting past ``limit``."""
    if id(node) in sizes:
        return sizes[id(node)]
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [item for pair in node.value for item in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, limit)
        if total > limit:
            break
    sizes[id(node)] = total
    return total


def read_yaml_data(path: str | Path, max_bytes: int = MAX_YAML_BYTES, max_nodes: int = MAX_YAML_NODES) -> object:
    """The plain data (dicts, lists, strings, numbers, booleans, None) of the YAML file ``path``.

    Raises:
        ConfigFileError: the file is larger than ``max_bytes``, expands to more than ``max_nodes`` values
            (aliases counted as copies), is not YAML, or uses a tag ``yaml.SafeLoader`` refuses (``!!python/...``).
        OSError: the file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ConfigFileError(f"{path}: {size} bytes; a run config is far smaller (limit {max_bytes}), not reading it")
    text = path.read_bytes()
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        count = _expanded_size(node, {}, max_nodes)
        if count > max_nodes:
            raise ConfigFileError(
                f"{path}: expands to more than {max_nodes} values (YAML aliases); a run config has about 600, not "
                "reading it"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigFileError(f"{path}: not YAML that gansr reads as data: {problem}{where}") from None
    except RecursionError:
        raise ConfigFileError(f"{path}: nested too deeply to be a run config, not reading it") from None
    finally:
        loader.dispose()


def select(root: object, dotted: str) -> object:
    """The node at ``dotted`` (``"module.generator"``, list items by index) of plain data ``root``; KeyError if
    absent."""
    node = root
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def resolve_references(root: object, dotted: str, source: str | Path, max_nodes: int = MAX_YAML_NODES) -> object:
    """A copy of the node at ``dotted`` (``"module"``, ``"generator"``; ``""`` for the whole document) of
    ``root`` with every whole-value reference ``${a.b}`` replaced by a copy of that node of ``root`` (resolved in
    turn). ``source`` names the file in errors.

    Raises:
        ConfigFileError: ``dotted`` or a referenced node is missing, references form a cycle, the copy exceeds
            ``max_nodes`` values, or a string holds ``${`` in any other form (a resolver call, an escaped
            ``\\${``, a reference inside text), naming the key: such values are refused, never resolved.
    """
    budget = [max_nodes]

    def copy(node: object, where: str, chain: tuple[str, ...]) -> object:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigFileError(f"{source}: references expand to more than {max_nodes} values, not reading it")
        if isinstance(node, Mapping):
            return {key: copy(value, f"{where}.{key}" if where else str(key), chain) for key, value in node.items()}
        if isinstance(node, list):
            return [copy(value, f"{where}.{i}", chain) for i, value in enumerate(node)]
        if isinstance(node, str) and "${" in node:
            match = _REFERENCE.fullmatch(node)
            if match is None:
                raise ConfigFileError(
                    f"{source}: {where or 'the document'} = {node[:60]!r}: gansr reads run configs as data and "
                    "resolves no interpolation but a plain ${a.b} reference; refusing it"
                )
            target = match.group(1)
            if target in chain:
                raise ConfigFileError(f"{source}: {where} refers to itself through ${{{target}}}")
            try:
                found = select(root, target)
            except KeyError:
                raise ConfigFileError(f"{source}: {where} refers to ${{{target}}}, which the file lacks") from None
            return copy(found, where, (*chain, target))
        return node

    try:
        start = select(root, dotted) if dotted else root
    except KeyError:
        raise ConfigFileError(f"{source}: no '{dotted}' entry") from None
    try:
        return copy(start, dotted, (dotted,) if dotted else ())
    except RecursionError:
        raise ConfigFileError(f"{source}: references nest too deeply to be a run config, not reading it") from None
