"""Lazy re-exports for package ``__init__`` modules (PEP 562).

Packages whose modules import TensorFlow re-export their public names through
:func:`lazy_getattr`, so that ``import asd_tf.<package>`` stays light and the
heavy module loads only when one of its names is used.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``name`` to ``<package>.<exports[name]>.<name>`` on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{exports[name]}", package), name)

    return __getattr__
