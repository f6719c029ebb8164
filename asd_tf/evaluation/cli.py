"""``asd-tf evaluate``: score a trained run's test split and write submission files and metrics."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a run's test split; write submission CSVs, results.json and results.md",
    )
    p.add_argument("run", help="run directory made by `asd-tf train`")
    p.add_argument("--backend", default="kmeans", choices=["kmeans", "knn", "class_posterior", "class_loss"],
                   help="scoring backend (default: kmeans, as in the paper; class_loss: own-class "
                        "ArcFace loss of the trained head)")
    p.add_argument("--data", help="dataset root (default: the run's training data)")
    p.add_argument("--ground-truth", dest="ground_truth", help="directory of evaluator ground-truth CSVs")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="RUN_DIR",
                   help="further runs whose scores are summed with this one")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option, e.g. n_clusters=16, fit=all (public-code k-means), k=3")
    p.add_argument("--batch-size", type=int, default=64, dest="batch_size")
    p.add_argument("--skip-bad", action="store_true", dest="skip_bad",
                   help="leave out clips with unusable audio (listed in skipped_clips.json) instead of stopping")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..cli import parse_key_value
    from .report import format_summary
    from .run import evaluate_run

    options = dict(map(parse_key_value, args.option))
    results = evaluate_run(
        args.run, backend=args.backend, data=args.data, ensemble=args.ensemble,
        backend_options=options, ground_truth_dir=args.ground_truth, batch_size=args.batch_size,
        skip_bad=args.skip_bad,
    )
    print(format_summary(results))
    return 0
