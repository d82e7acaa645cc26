"""What a ``gansr-train`` run folder recorded, read as data (docs/reliability.md, "Reading run folders and weight
files").

A run folder keeps its composed config in ``hparams.yaml`` (the CSV logger's resolved copy, ``logger=csv``, the
default; also for runs composed in code) and/or ``.hydra/config.yaml`` (``gansr-train`` on the command line, any
logger, written once the run is accepted; interpolations such as ``generator: ${generator}`` unresolved). Both are read with :func:`~gansr.utils.yaml_data.
read_yaml_data` and only plain ``${a.b}`` references are followed (:func:`~gansr.utils.yaml_data.
resolve_references`): no resolver runs and nothing is instantiated.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from gansr.utils.yaml_data import (
    ConfigFileError,
    read_yaml_data,
    resolve_references,
    select,
)

#: where a run folder keeps its config, relative to it, first found wins
RUN_CONFIG_FILES = (Path("hparams.yaml"), Path(".hydra") / "config.yaml")


def run_config_files(folder: str | Path) -> list[Path]:
    """The run config files (:data:`RUN_CONFIG_FILES`) present in ``folder``, in order of preference."""
    return [Path(folder) / name for name in RUN_CONFIG_FILES if (Path(folder) / name).is_file()]


def _read_document(file: str | Path) -> dict:
    document = read_yaml_data(file)
    if not isinstance(document, dict):
        raise ConfigFileError(f"{file}: expected a run config (a mapping), got {type(document).__name__}")
    return document


def read_sections(file: str | Path, sections: Iterable[str], unset: Iterable[str] = ()) -> dict:
    """``{section: plain data}`` of the ``sections`` (dotted paths: ``"module"``, ``"module.generator"``) of the
    run config ``file`` that it has, each with its ``${a.b}`` references copied in (an absent one is left out).
    ``unset``: dotted keys (``"module.perceptual_loss"``) set to None before references are followed (parts the
    caller does not build).

    Raises:
        ConfigFileError: the file is not a mapping, too large, an alias bomb, or a needed value holds an
            interpolation other than a plain reference (one line naming the file and the key).
    """
    document = _read_document(file)
    for dotted in unset:
        parent, _, last = dotted.rpartition(".")
        try:
            node = select(document, parent) if parent else document
        except KeyError:
            continue
        if isinstance(node, dict) and last in node:
            node[last] = None
    found = {}
    for name in sections:
        try:
            select(document, name)
        except KeyError:
            continue
        found[name] = resolve_references(document, name, file)
    return found


def read_run_config(file: str | Path) -> dict:
    """The whole run config ``file`` as plain data, references copied in (see :func:`read_sections`)."""
    document = _read_document(file)
    return resolve_references(document, "", file)


def generator_file_config(sections: Mapping) -> dict:
    """The ``config`` entry of a generator file (``{"generator", "extractor", "scale"}``, docs/inference.md) from a
    run config's plain ``generator``, ``sharing`` and ``scale`` sections."""
    return {"generator": sections["generator"], "extractor": sections.get("sharing") or None,
            "scale": sections["scale"]}
