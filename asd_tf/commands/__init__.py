"""The ``asd-tf`` command line: one thin module per sub-command, apart from the library.

Each module of this package exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (a function that calls the library). The library never
imports a command module. Modules are imported only when listed here, and heavy
imports (TensorFlow) happen inside the command functions, so ``asd-tf index``
starts fast. ``python -m asd_tf.commands`` and ``python -m asd_tf`` run
:func:`main`, as the ``asd-tf`` console script does.

The environment (``TF_CPP_MIN_LOG_LEVEL``) is set in :func:`main`, before anything
imports TensorFlow; the commands in ``TENSORFLOW_COMMANDS`` then import it through
:func:`asd_tf.console.start_tensorflow`, which keeps TensorFlow's start-up log to
what is worth showing (no CUDA lines on a CPU-only machine). ``asd-tf train`` does
that itself, after it has generated any synthetic data (the generator forks worker
processes, which it must do before TensorFlow runs).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import ASDError
from ..registry import Registry

#: Command name -> module providing ``register(subparsers)`` (imported when the parser is built).
COMMANDS = Registry("command", {
    "synth": "asd_tf.commands.synth",
    "index": "asd_tf.commands.index",
    "check-data": "asd_tf.commands.check_data",
    "train": "asd_tf.commands.train",
    "evaluate": "asd_tf.commands.evaluate",
    "describe": "asd_tf.commands.describe",
    "compare": "asd_tf.commands.compare",
})


# commands whose first act is to run TensorFlow (train starts it itself, after data generation)
TENSORFLOW_COMMANDS = ("evaluate", "describe")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asd-tf", description="Anomalous sound detection toolkit (DCASE Task 2)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        COMMANDS[name].register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..console import one_line_warnings, prepare_environment, start_tensorflow

    prepare_environment()
    one_line_warnings()
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
