#!/usr/bin/env python
"""Measured RISE localisation on synthetic anomalies with known boxes; compares runs.

    python visualize/localization.py --run RUN_A [--run RUN_B ...] [--masks N] [--max-clips K] --out DIR

For each run (spectrogram-only models) and each anomalous test clip of the
synthetic data that carries an anomaly box (``<clip>.anomaly.csv``), the RISE
map is scored against the box, cropped to the excerpt the model sees:

- ``frac_inside_greater``: share of clips whose mean importance inside the box
  exceeds the mean outside it (chance about 0.5);
- ``mean_percentile``: mean top-% rank of the box's mean importance among all
  windows of the box's size (1 % = the box is the brightest window; chance about 50).

The same clips are used for every run. Writes ``localization.json`` (per clip
and summary) and ``localization.md`` (one table row per run); ``--save-maps``
also keeps every map as ``maps/<run>/<clip>.npy``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="run directory (repeat to compare runs)")
    p.add_argument("--data", default=None, help="synthetic dataset with anomaly boxes (default: the first run's data)")
    p.add_argument("--masks", type=int, default=8000, help="RISE masks per clip")
    p.add_argument("--max-clips", type=int, default=24, help="at most this many clips, spread over sections (0: all)")
    p.add_argument("--batch-size", type=int, default=256, help="masks per batch")
    p.add_argument("--seed", type=int, default=0, help="mask seed (the same masks for every run and clip)")
    p.add_argument("--save-maps", action="store_true", help="save every importance map as .npy")
    p.add_argument("--out", default="figures/localization", help="output folder")
    return p


def markdown(reports: list[dict], names: list[str]) -> str:
    lines = [
        "| run | loss | labels | clips | inside > outside | mean box percentile | median box percentile | "
        "mean inside/outside ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rep in zip(names, reports):
        s = rep["summary"]
        lines.append(
            f"| {name} | {rep['loss']} | {rep['labels']} | {int(s['n_clips'])} | {s['frac_inside_greater']:.2f} | "
            f"{s['mean_percentile']:.1f} | {s['median_percentile']:.1f} | {s['mean_ratio']:.3f} |"
        )
    masks = reports[0]["n_masks"]
    return (f"RISE localisation on synthetic anomalies ({masks} masks per map, seed {reports[0]['seed']}). "
            "inside > outside: share of clips whose mean importance in the anomaly box exceeds the mean outside "
            "(chance ~0.5, higher is better); box percentile: top-% rank of the box among equal-size windows "
            "(chance ~50, lower is better).\n\n" + "\n".join(lines) + "\n")


def run(args: argparse.Namespace) -> int:
    from asd_tf.explain.run_localization import localization_clips, localization_report
    from asd_tf.explain.rise_explainer import require_spectrogram_run
    from asd_tf.explain.script_helpers import run_labels
    from asd_tf.io_utils import atomic_write_json, atomic_write_text

    out = Path(args.out)
    names = run_labels(args.run)
    for run_dir in args.run:  # fail before hours of RISE, not after the first run
        require_spectrogram_run(run_dir)
    clips = localization_clips(args.run[0], args.data, args.max_clips or None)
    print(f"{len(clips)} anomalous clips with known boxes")
    reports = []
    for name, run_dir in zip(names, args.run):
        rep = localization_report(run_dir, clips, args.masks, args.seed, args.batch_size, progress=False,
                                  maps_dir=(out / "maps" / name) if args.save_maps else None)
        rep["name"] = name
        reports.append(rep)
        s = rep["summary"]
        print(f"{name}: inside > outside on {s['frac_inside_greater']:.2f} of {int(s['n_clips'])} clips, "
              f"mean box percentile {s['mean_percentile']:.1f}" +
              (f" ({len(rep['skipped'])} clips without a box in the excerpt)" if rep["skipped"] else ""))
    atomic_write_json(out / "localization.json", {"runs": reports})
    atomic_write_text(out / "localization.md", markdown(reports, names))
    print(f"wrote {out / 'localization.json'}, {out / 'localization.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from asd_tf.explain.script_helpers import script_main

    return script_main(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
