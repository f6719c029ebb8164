"""Model-walking helpers: every layer of a model, and which use a bias or lack a kernel regulariser.

They check the bias-free and weight-decay rules of Wilkinghoff & Kurth (TASLP 2024,
Sec. IV-B) on any backbone, including nested sub-models such as ``frontend`` and
``embedder``; ``asd-tf describe`` (:mod:`asd_tf.commands.describe`) prints them.
"""

from __future__ import annotations

from typing import Any, Iterator


def iter_layers(layer: Any) -> Iterator[Any]:
    """Yield every layer inside ``layer`` depth-first (sub-models and nested layers included), without ``layer`` itself."""
    seen: set[int] = set()
    stack = list(reversed(_children(layer)))
    while stack:
        child = stack.pop()
        if id(child) in seen:
            continue
        seen.add(id(child))
        yield child
        stack.extend(reversed(_children(child)))


def _children(layer: Any) -> list[Any]:
    # Functional/Sequential models list their layers; custom layers track sub-layers in ``_layers``.
    children = list(getattr(layer, "layers", None) or [])
    for child in getattr(layer, "_layers", None) or []:
        if all(child is not known for known in children):
            children.append(child)
    return children


def layers_with_bias(model: Any) -> list[str]:
    """Names of all layers (recursively) that use a bias term (``use_bias=True`` or a weight named ``bias``)."""
    found = []
    for layer in iter_layers(model):
        # Dense/Conv keep ``self.bias = None`` when bias-free; BatchNorm's offset is ``beta``, not ``bias``.
        if getattr(layer, "use_bias", False) or getattr(layer, "bias", None) is not None:
            found.append(layer.name)
    return found


def layers_without_kernel_regularizer(model: Any) -> list[str]:
    """Names of layers (recursively) that own a ``kernel`` but no ``kernel_regularizer``."""
    return [
        layer.name
        for layer in iter_layers(model)
        if getattr(layer, "kernel", None) is not None and getattr(layer, "kernel_regularizer", None) is None
    ]
