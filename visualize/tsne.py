#!/usr/bin/env python
"""t-SNE of test embeddings and the Table III distance (Wilkinghoff & Kurth, TASLP 2024, Sec. IV-F, Fig. 5).

    python visualize/tsne.py --run RUN_DIR [--run ...] [--colour section|class] [--data DIR] --out DIR

Writes ``tsne.png`` / ``.pdf`` (one panel per run; colour = section or class,
marker o = normal, x = anomaly), ``tsne_points__<run>.npz`` (the 2-D points,
labels, anomaly flags and clip paths) and ``tsne.json`` with, per run, the mean
Euclidean distance in t-SNE space from each anomalous clip to the nearest
normal clip, and its mean and std over the runs (population std, as Table III).
``--data`` embeds the test split of another dataset (e.g. real clips).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="run directory (repeatable: one panel per run)")
    p.add_argument("--colour", "--color", choices=("section", "class"), default="section", help="colour category")
    p.add_argument("--data", default=None, help="dataset root whose test split is embedded (default: the run's data)")
    p.add_argument("--seed", type=int, default=0, help="t-SNE random state")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (clipped for small sets)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default="figures/tsne", help="output folder")
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from asd_tf.explain.figures import plot_tsne
    from asd_tf.explain.run_loaders import tsne_for_run
    from asd_tf.explain.script_helpers import run_labels, save_npz
    from asd_tf.explain.tsne import aggregate
    from asd_tf.io_utils import atomic_write_json

    out = Path(args.out)
    names = run_labels(args.run)
    panels, rows = [], []
    for name, run_dir in zip(names, args.run):
        r = tsne_for_run(run_dir, args.colour, args.seed, args.data, args.perplexity, args.batch_size)
        points_file = out / f"tsne_points__{name}.npz"
        save_npz(points_file, points=r["points"], labels=r["labels"], is_anomaly=r["is_anomaly"],
                 paths=np.array(r["paths"]))
        panels.append({"points": r["points"], "labels": r["labels"], "is_anomaly": r["is_anomaly"],
                       "title": f"{name}: anomaly-normal distance {r['distance']:.2f}"})
        rows.append({"run": str(Path(run_dir).resolve()), "name": name, "distance": r["distance"],
                     "n_clips": int(len(r["points"])), "n_anomalies": int(r["is_anomaly"].sum()),
                     "n_unknown_skipped": r["n_unknown"], "points": points_file.name})
        print(f"{name}: mean distance anomaly -> nearest normal in t-SNE space = {r['distance']:.4f}")
    mean, std = aggregate([row["distance"] for row in rows])
    print(f"over {len(rows)} run(s): {mean:.4f} +- {std:.4f}")
    paths = plot_tsne(panels, str(out / "tsne"))
    atomic_write_json(out / "tsne.json", {"colour": args.colour, "seed": args.seed, "data": args.data,
                                          "runs": rows, "mean": mean, "std": std})
    print("wrote " + ", ".join(paths + [str(out / "tsne.json")]))
    return 0


def main(argv: list[str] | None = None) -> int:
    from asd_tf.explain.script_helpers import script_main

    return script_main(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
