"""Lazy package exports (PEP 562): a package names each public object's module, and the object is imported on
first attribute access, so importing the package loads nothing heavy (Lightning, torchmetrics)."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, namespace: dict[str, Any], exports: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: imports ``name`` from ``exports[name]`` on first access and caches
    it in ``namespace`` (the package's ``globals()``); other names raise ``AttributeError``."""

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value
        return value

    return __getattr__
