#!/usr/bin/env python
"""Training curves: angular loss, mean intra- and inter-class compactness per epoch (paper Figs. 2-3).

    python visualize/curves.py --run RUN_DIR [--run ...] --out DIR

Reads each run's ``logs/training.csv``; writes ``curves.png`` / ``.pdf`` (one
line per run in each of the three panels) and ``curves.json`` (the values drawn).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="run directory (repeatable: one line per run)")
    p.add_argument("--out", default="figures/curves", help="output folder")
    return p


def run(args: argparse.Namespace) -> int:
    import math

    from asd_tf.explain.curves import CURVE_COLUMNS, read_training_log
    from asd_tf.explain.figures import plot_training_curves
    from asd_tf.explain.script_helpers import run_labels
    from asd_tf.io_utils import atomic_write_json

    out = Path(args.out)
    logs = {name: read_training_log(r) for name, r in zip(run_labels(args.run), args.run)}
    paths = plot_training_curves(logs, out / "curves")

    def clean(values):  # JSON has no NaN: missing values become null
        return [None if math.isnan(v) else float(v) for v in values]

    columns = ["epoch"] + [c for c, _ in CURVE_COLUMNS]
    summary = {name: {c: clean(log[c]) for c in columns if c in log} for name, log in logs.items()}
    atomic_write_json(out / "curves.json", {"runs": {n: dict(v, run=str(Path(r).resolve()))
                                                     for (n, v), r in zip(summary.items(), args.run)}})
    for name, log in logs.items():
        last = {c: float(log[c][-1]) for c in columns[1:] if c in log}
        print(f"{name}: {len(log['epoch'])} epochs, last " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))
    print("wrote " + ", ".join(paths + [str(out / "curves.json")]))
    return 0


def main(argv: list[str] | None = None) -> int:
    from asd_tf.explain.script_helpers import script_main

    return script_main(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
