#!/usr/bin/env python
"""RISE importance maps of clips, like the paper's Fig. 4 (Wilkinghoff & Kurth, TASLP 2024, Sec. IV-E).

    python visualize/rise.py --run RUN_DIR --clip FILE.wav [--clip ...] [--run RUN_B] [--masks N] --out DIR

Per clip: ``rise_<clip>.png`` / ``.pdf`` (log-magnitude spectrogram beside one
importance map per run), ``rise_<clip>__<run>.npy`` (the raw map [T, F]),
``rise_<clip>_spectrogram.npy`` and ``rise_<clip>.json`` (settings, the clip's
unmasked anomaly score per run, where the k-means centres came from).

The runs must be spectrogram-only models (``asd-tf train --branches spectrogram``).
The clip may be any wav (an official DCASE name gives its section); it is cropped/padded to the run's ``num_samples``. Its
k-means centres come from the run's training clips of the same machine/section;
if there are none (e.g. a real clip and a model trained on synthetic data) all
training clips are used with a warning, or ``--no-fallback`` makes that an error.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from asd_tf.explain.rise import PAPER_N_MASKS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, help="run directory (repeat to compare runs side by side)")
    p.add_argument("--clip", action="append", required=True, help="wav file to explain (repeatable)")
    p.add_argument("--masks", type=int, default=PAPER_N_MASKS, help=f"number of RISE masks (paper: {PAPER_N_MASKS})")
    p.add_argument("--batch-size", type=int, default=256, help="masks per batch (memory ~ batch x T x F)")
    p.add_argument("--seed", type=int, default=0, help="mask seed (the same seed gives the same map)")
    p.add_argument("--no-fallback", action="store_true",
                   help="fail instead of using all training clips when the clip's section has none")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--out", default="figures/rise", help="output folder")
    return p


def run(args: argparse.Namespace) -> int:
    from asd_tf.synthetic import read_anomaly_boxes
    from asd_tf.errors import ConfigError
    from asd_tf.explain.figures import plot_rise
    from asd_tf.explain.rise_explainer import RiseExplainer
    from asd_tf.explain.script_helpers import run_labels
    from asd_tf.io_utils import atomic_save_npy, atomic_write_json

    out = Path(args.out)
    names = run_labels(args.run)
    explainers = [RiseExplainer(r, allow_fallback=not args.no_fallback) for r in args.run]
    for clip in args.clip:
        stem = f"rise_{Path(clip).stem}"
        results = []
        for name, explainer in zip(names, explainers):
            with warnings.catch_warnings():  # the fallback is reported below, once per clip and run
                warnings.simplefilter("ignore", UserWarning)
                res = explainer.explain(clip, args.masks, args.seed, args.batch_size, progress=not args.no_progress)
            if res.fallback:
                print(f"warning: {name}: no training clips of {_scope(res)}; "
                      f"centres from {res.centres_from}", file=sys.stderr)
            atomic_save_npy(out / f"{stem}__{name}.npy", res.importance)
            results.append(res)
        first = results[0]
        for res in results[1:]:
            if res.spectrogram.shape != first.spectrogram.shape:
                raise ConfigError(f"{clip}: the runs give spectrograms of different shapes; compare runs with equal settings")
        atomic_save_npy(out / f"{stem}_spectrogram.npy", first.spectrogram)
        titles = [f"{n}: RISE importance (score {r.clean_score:.3f})" for n, r in zip(names, results)]
        paths = plot_rise(first.spectrogram, [r.importance for r in results], titles, first.sample_rate, first.hop,
                          str(out / stem), boxes=_visible_boxes(read_anomaly_boxes(clip), first),
                          spec_title=f"{_scope(first)}: log-magnitude spectrogram")
        atomic_write_json(out / f"{stem}.json", {"clip": first.clip, "runs": {
            n: dict(r.metadata(), run=str(Path(d).resolve()), map=f"{stem}__{n}.npy")
            for n, r, d in zip(names, results, args.run)}})
        print(f"{clip}: " + ", ".join(f"{n} score {r.clean_score:.4f}" for n, r in zip(names, results)))
        print("wrote " + ", ".join(paths))
    return 0


def _scope(res) -> str:
    return f"{res.machine} section {res.section}" if res.section else f"{res.machine} (no DCASE file name)"


def _visible_boxes(boxes, res):
    from asd_tf.explain.run_localization import crop_boxes

    return crop_boxes(boxes, res.spectrogram.shape[0] * res.seconds_per_frame, res.sample_rate / 2.0)


def main(argv: list[str] | None = None) -> int:
    from asd_tf.explain.script_helpers import script_main

    return script_main(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
