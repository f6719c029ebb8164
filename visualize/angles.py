#!/usr/bin/env python
"""Histogram of angles between test embeddings and their class centres, normal vs anomalous (EMM Fig. 2).

    python visualize/angles.py --run RUN_DIR [--data DIR] --out DIR

The class of a test clip is its class in the run's label set
(attribute/section/...); the centres are those of the run's loss head (the
nearest sub-cluster centre with several per class). Clips whose class the run
never saw are skipped and counted. Writes ``angles.png`` / ``.pdf`` (log counts),
``angles.npz`` (angles in degrees, anomaly flags, paths) and ``angles.json``
(mean angle of normal and anomalous clips, counts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--data", default=None, help="dataset root whose test split is used (default: the run's data)")
    p.add_argument("--bins", type=int, default=60, help="number of histogram bins")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default="figures/angles", help="output folder")
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from asd_tf.explain.figures import plot_angle_histogram
    from asd_tf.explain.run_loaders import angles_for_run
    from asd_tf.explain.script_helpers import run_labels, save_npz
    from asd_tf.io_utils import atomic_write_json

    out = Path(args.out)
    name = run_labels([args.run])[0]
    r = angles_for_run(args.run, args.data, args.batch_size)
    a, anom = r["angles"], r["is_anomaly"]
    if r["skipped"]:
        print(f"skipped {len(r['skipped'])} test clip(s) whose class is not in the run's label set or whose "
              "label is unknown")

    def mean(x):
        return float(np.mean(x)) if x.size else None

    summary = {"run": str(Path(args.run).resolve()), "data": args.data, "n_normal": int((~anom).sum()),
               "n_anomaly": int(anom.sum()), "n_skipped": len(r["skipped"]),
               "mean_angle_normal": mean(a[~anom]), "mean_angle_anomaly": mean(a[anom]),
               "std_angle_normal": float(np.std(a[~anom])) if (~anom).any() else None,
               "std_angle_anomaly": float(np.std(a[anom])) if anom.any() else None}
    save_npz(out / "angles.npz", angles=a, is_anomaly=anom, paths=np.array(r["paths"]))
    paths = plot_angle_histogram(a[~anom], a[anom], str(out / "angles"), bins=args.bins, title=name)
    atomic_write_json(out / "angles.json", summary)
    for what in ("normal", "anomaly"):
        m = summary[f"mean_angle_{what}"]
        print(f"{what}: n = {summary[f'n_{what}']}, mean angle = " + ("n/a" if m is None else f"{m:.2f} deg"))
    print("wrote " + ", ".join(paths + [str(out / "angles.json")]))
    return 0


def main(argv: list[str] | None = None) -> int:
    from asd_tf.explain.script_helpers import script_main

    return script_main(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
