"""``asd-tf describe``: print a backbone's layers and parameter count.

Also holds the model-walking helpers used to check the bias-free and
weight-decay rules of Wilkinghoff & Kurth (TASLP 2024, Sec. IV-B) on any
backbone, including nested sub-models such as ``frontend`` and ``embedder``.

Usage::

    asd-tf describe --backbone reference [--num-samples 160000] [--branches both]
                    [--option KEY=VALUE ...] [--brief]

The last line printed is ``parameters: N`` with ``N = model.count_params()``.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterator

from ..errors import ConfigError


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


def run(args: argparse.Namespace) -> int:
    """Build ``args.backbone`` and print its summary and parameter count."""
    from .registry import build_backbone

    from ..cli import parse_key_value

    options = dict(parse_key_value(text) for text in args.option or [])
    if args.branches is not None:
        options["branches"] = args.branches
    try:
        model = build_backbone(args.backbone, num_samples=args.num_samples, **options)
    except TypeError as exc:  # an option the builder does not accept
        raise ConfigError(f"backbone {args.backbone!r}: bad option(s) {sorted(options)}: {exc}") from exc
    model.summary(expand_nested=not args.brief, print_fn=lambda line, *_, **__: print(line))
    biased = layers_with_bias(model)
    print(f"embedding dim: {model.output.shape[-1]}")
    print(f"bias-free: {'yes' if not biased else 'no (' + ', '.join(biased) + ')'}")
    print(f"parameters: {model.count_params()}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``describe`` sub-command (CLI contract of ``asd_tf.cli``)."""
    parser = subparsers.add_parser("describe", help="print a backbone's layers and parameter count")
    parser.add_argument("--backbone", required=True, help="backbone name (see asd_tf.models.registry.BACKBONES)")
    parser.add_argument("--num-samples", type=int, default=160000, help="clip length in samples (default 160000 = 10 s)")
    parser.add_argument("--branches", default=None, help="input branches for the reference model: both|spectrogram|spectrum")
    parser.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                        help="extra builder option, value parsed as YAML (repeatable), e.g. -o stage_channels=[8,8,8,8]")
    parser.add_argument("--brief", action="store_true", help="do not expand nested sub-models in the summary")
    parser.set_defaults(func=run)
