"""The ``asd-tf`` command line.

Each sub-command lives beside the code it drives: a module exposes
``register(subparsers)``, which adds its parser and sets ``func``. Modules are
imported only when listed here, and heavy imports (TensorFlow) happen inside
the command functions, so ``asd-tf index`` starts fast.

The environment (``TF_CPP_MIN_LOG_LEVEL``) is set in :func:`main`, before anything
imports TensorFlow; the commands in ``TENSORFLOW_COMMANDS`` then import it through
:func:`asd_tf.console.start_tensorflow`, which keeps TensorFlow's start-up log to
what is worth showing (no CUDA lines on a CPU-only machine). ``asd-tf train`` does
that itself, after it has generated any synthetic data (the generator forks worker
processes, which it must do before TensorFlow runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Sequence

from .errors import ASDError, ConfigError

# command name -> module providing ``register(subparsers)``
COMMANDS: dict[str, str] = {
    "synth": "asd_tf.data.synthetic_cli",
    "index": "asd_tf.data.index_cli",
    "check-data": "asd_tf.data.check_cli",
    "train": "asd_tf.training.cli",
    "evaluate": "asd_tf.evaluation.cli",
    "describe": "asd_tf.models.describe",
}


# commands whose first act is to run TensorFlow (train starts it itself, after data generation)
TENSORFLOW_COMMANDS = ("evaluate", "describe")


def parse_key_value(text: str) -> tuple[str, Any]:
    """Parse a ``KEY=VALUE`` command-line option; the value is read as YAML (numbers, lists, ...)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"option {text!r}: expected KEY=VALUE, e.g. branch_dim=64")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"option {text!r}: cannot parse the value ({exc})") from exc
    return key.strip(), parsed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asd-tf", description="Anomalous sound detection toolkit (DCASE Task 2)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name in COMMANDS.values():
        module = importlib.import_module(module_name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .console import prepare_environment, start_tensorflow

    prepare_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in TENSORFLOW_COMMANDS:
            start_tensorflow()
        result = args.func(args)
    except ASDError as exc:
        print(f"asd-tf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"asd-tf {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
