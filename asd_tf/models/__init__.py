"""Embedding backbones: ``waveform [B, num_samples] -> embedding [B, D]``.

Every backbone is ``embedder(frontend(waveform))`` with sub-models named
``frontend`` and ``embedder``; pick one by name with :func:`build_backbone`
(``registry.py``). The reference dual-branch model is in ``reference.py``,
shared bias-free layers in ``blocks.py``, and ``asd-tf describe`` plus the
model-walking checks in ``describe.py``.

Names are resolved lazily so importing the package does not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "BACKBONES": "registry",
    "build_backbone": "registry",
    "build_reference_model": "reference",
    "iter_layers": "describe",
    "layers_with_bias": "describe",
    "layers_without_kernel_regularizer": "describe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    return getattr(module, name)
