"""Helpers the figure scripts in ``visualize/`` share: run names for titles, ``.npz`` output, error handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "run_labels",
    "save_npz",
    "script_main",
]


def run_labels(run_dirs: Sequence[str | Path]) -> list[str]:
    """Short unique names of runs for titles and file names (folder name; parent_name when ambiguous)."""
    paths = [Path(r).resolve() for r in run_dirs]
    names = [p.name for p in paths]
    names = [n if names.count(n) == 1 else f"{p.parent.name}_{n}" for n, p in zip(names, paths)]
    return [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]


def save_npz(path: str | Path, **arrays: Any) -> Path:
    """Save named arrays to ``path`` (``.npz``, uncompressed) atomically."""
    from asd_tf.io_utils import atomic_write

    def _w(tmp: str) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a temp name
            np.savez(fh, **arrays)

    return atomic_write(path, _w)


def script_main(body: Callable[[Any], int], args: Any) -> int:
    """Run a figure script's ``body(args)``; library errors become one ``error: ...`` line and exit code 2."""
    import sys

    from asd_tf.errors import ASDError

    try:
        return int(body(args) or 0)
    except ASDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
