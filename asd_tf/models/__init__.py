"""Embedding backbones: ``waveform [B, num_samples] -> embedding [B, D]``.

Every backbone is ``embedder(frontend(waveform))`` with sub-models named
``frontend`` and ``embedder``; pick one by name with :func:`build_backbone`
(``registry.py``). The reference dual-branch model is in ``reference.py``,
shared bias-free layers in ``blocks.py``, and ``asd-tf describe`` plus the
model-walking checks in ``describe.py``.

Names are resolved lazily so importing the package does not import TensorFlow.
"""

from __future__ import annotations

from ..lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "BACKBONES": "registry",
    "build_backbone": "registry",
    "build_reference_model": "reference",
    "iter_layers": "describe",
    "layers_with_bias": "describe",
    "layers_without_kernel_regularizer": "describe",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
