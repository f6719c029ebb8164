"""``asd-tf synth``: write the deterministic synthetic dataset (asd_tf.synthetic)."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    import json
    import time

    from ..synthetic import generate

    start = time.perf_counter()
    root = generate(args.out, layout=args.layout, size=args.size, seed=args.seed,
                    eval_split=args.eval_split, n_jobs=args.jobs, profile=args.profile)
    meta = json.loads((root / ".complete").read_text(encoding="utf-8"))
    print(f"{root}: {meta['n_clips']} clips ({args.layout}, {args.size}, {args.profile} profile, seed {args.seed}"
          f"{', eval split' if args.eval_split else ''}) in {time.perf_counter() - start:.1f} s")
    if args.baseline:
        from ..synthetic.calibration import baseline_hmean_auc

        result = baseline_hmean_auc(root)
        print(f"clip-statistics baseline: harmonic-mean AUC {result['hmean_auc']:.3f}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` sub-command."""
    from ..synthetic import LAYOUTS, PROFILES, SIZES

    p = subparsers.add_parser(
        "synth", help="write a deterministic synthetic dataset in an official DCASE layout",
        description="Write machine sounds + loud factory noise + localised anomalies (ground-truth boxes "
                    "in <stem>.anomaly.csv) in the official DCASE file layout.")
    p.add_argument("out", help="output directory (reused if it already holds the same dataset)")
    p.add_argument("--layout", choices=LAYOUTS, default="dcase2022",
                   help="official file layout; dcase2024/dcase2025 add their name quirks and (2025) "
                        "<machine>/supplemental/ clips")
    p.add_argument("--size", choices=tuple(SIZES), default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", choices=tuple(PROFILES), default="factory",
                   help="noise and fault design: " + "; ".join(f"{k}: {v.description}" for k, v in PROFILES.items()))
    p.add_argument("--eval-split", action="store_true",
                   help="anonymise test names (section_XX_NNNN.wav) and write the evaluator's ground truth "
                        "(ground_truth_data/, ground_truth_domain/, ground_truth_attributes/)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: 2, tiny: 1)")
    p.add_argument("--baseline", action="store_true",
                   help="also print the clip-statistics calibration baseline (harmonic-mean AUC)")
    p.set_defaults(func=_run)
