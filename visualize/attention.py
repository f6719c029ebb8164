#!/usr/bin/env python
"""Mean and std of the attention map over the test set (Neri & Carli, IEEE Sens. Lett. 2024, Fig. 4).

    python visualize/attention.py --run RUN_DIR [--data DIR] --out DIR

For a run with ``--backbone lowcomplexity_attention``. Writes ``attention.png``
/ ``.pdf`` (rows: log-mel and Wavegram channels; columns: mean, std),
``attention_mean.npy`` and ``attention_std.npy`` ([frames, n_mels, 2]) and
``attention.json`` (number of clips, shape).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory of a lowcomplexity_attention model")
    p.add_argument("--data", default=None, help="dataset root whose test split is used (default: the run's data)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", default="figures/attention", help="output folder")
    return p


def run(args: argparse.Namespace) -> int:
    from asd_tf.explain.figures import plot_attention_maps
    from asd_tf.explain.run_loaders import attention_for_run
    from asd_tf.explain.script_helpers import run_labels
    from asd_tf.io_utils import atomic_save_npy, atomic_write_json

    out = Path(args.out)
    r = attention_for_run(args.run, args.data, args.batch_size)
    atomic_save_npy(out / "attention_mean.npy", r["mean"])
    atomic_save_npy(out / "attention_std.npy", r["std"])
    paths = plot_attention_maps(r["mean"], r["std"], r["seconds_per_frame"], out / "attention",
                                title=run_labels([args.run])[0])
    atomic_write_json(out / "attention.json", {"run": str(Path(args.run).resolve()), "data": args.data,
                                               "n_clips": r["n_clips"], "shape": list(r["mean"].shape),
                                               "seconds_per_frame": r["seconds_per_frame"]})
    print(f"attention map {tuple(r['mean'].shape)} over {r['n_clips']} test clips: "
          f"mean {float(r['mean'].mean()):.4f}, mean std {float(r['std'].mean()):.4f}")
    print("wrote " + ", ".join(paths))
    return 0


def main(argv: list[str] | None = None) -> int:
    from asd_tf.explain.script_helpers import script_main

    return script_main(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
