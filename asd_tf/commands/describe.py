"""``asd-tf describe``: print a backbone's layers and parameter count.

Usage::

    asd-tf describe --backbone reference [--num-samples 160000] [--branches both]
                    [--option KEY=VALUE ...] [--brief]

The last line printed is ``parameters: N`` with ``N = model.count_params()``.
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError


def run(args: argparse.Namespace) -> int:
    """Build ``args.backbone`` and print its summary and parameter count."""
    from ..models.describe import layers_with_bias
    from ..models.registry import build_backbone
    from .options import parse_key_value

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
    """Add the ``describe`` sub-command (see :mod:`asd_tf.commands`)."""
    parser = subparsers.add_parser("describe", help="print a backbone's layers and parameter count")
    parser.add_argument("--backbone", required=True, help="backbone name (see asd_tf.models.registry.BACKBONES)")
    parser.add_argument("--num-samples", type=int, default=160000, help="clip length in samples (default 160000 = 10 s)")
    parser.add_argument("--branches", default=None, help="input branches for the reference model: both|spectrogram|spectrum")
    parser.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                        help="extra builder option, value parsed as YAML (repeatable), e.g. -o stage_channels=[8,8,8,8]")
    parser.add_argument("--brief", action="store_true", help="do not expand nested sub-models in the summary")
    parser.set_defaults(func=run)
