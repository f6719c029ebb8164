"""``asd-tf evaluate``: score a trained run's test split and write submission files and metrics."""

from __future__ import annotations

import argparse
import sys

from ..errors import MetricError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a run's test split; write submission CSVs, results.json and results.md",
    )
    from ..scoring.backends import BACKENDS
    from ..runs import SYSTEM_BACKENDS

    baseline_scores = [b for names in SYSTEM_BACKENDS.values() for b in names if b not in BACKENDS]
    p.add_argument("run", help="run directory made by `asd-tf train`")
    # default None: the run's system picks its backend (kmeans for embedding runs, see run_evaluate)
    p.add_argument("--backend", nargs="+", default=None, choices=[*sorted(BACKENDS), *baseline_scores],
                   metavar="BACKEND",
                   help="scoring backend(s): " + ", ".join(sorted(BACKENDS)) + " (default: kmeans, as in the "
                        "paper; knn: nearest clip per domain; knn_smote: knn + SMOTE target points; density: "
                        "local-density normalisation; class_loss: own-class ArcFace loss of the trained head). "
                        "Several backends are evaluated one by one, or as one system with --combine; "
                        "dcase_ae runs: ae_mse (default) | ae_mahala; logmel_knn runs: logmel_knn")
    p.add_argument("--data", help="dataset root (default: the run's training data)")
    p.add_argument("--ground-truth", dest="ground_truth", help="directory of evaluator ground-truth CSVs")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="RUN_DIR",
                   help="further runs whose scores are combined with this one (summed unless --combine zscore)")
    p.add_argument("--combine", choices=["sum", "zscore"], default=None,
                   help="combine the backends (and --ensemble runs) into one system: sum = plain sum of the "
                        "scores (reference code); zscore = each member standardised per section with the mean/std "
                        "of its training-clip scores, then summed. Default: backends one by one, runs summed")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend option, e.g. n_clusters=16, fit=all (public-code k-means), k=3, "
                        "variant=difference; BACKEND.KEY=VALUE (e.g. density.k=4) for one backend only")
    p.add_argument("--batch-size", type=int, default=64, dest="batch_size")
    p.add_argument("--skip-bad", action="store_true", dest="skip_bad",
                   help="leave out clips with unusable audio (listed in skipped_clips.json) instead of stopping")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.report import format_summary
    from ..evaluation.run import evaluate_run, options_per_backend
    from .options import parse_key_value

    options = dict(map(parse_key_value, args.option))
    if args.backend is None:  # the run's system decides (kmeans for embedding runs)
        from ..evaluation.baselines import run_system
        from ..runs import default_backend

        system = run_system(args.run)
        args.backend = [default_backend(system)]
        if system != "embedding":
            print(f"scoring backend: {args.backend[0]} (the {system} system's default)")
    if not args.ensemble:  # a run trained with --members N is scored as its ensemble
        from ..runs import Run, ensemble_member_dir

        count = Run.open(args.run).config.members
        if count > 1:
            args.ensemble = [str(ensemble_member_dir(args.run, i)) for i in range(1, count)]
            print(f"ensemble of {count} members (members: {count} in config.yaml); scores combined: "
                  f"{args.combine or 'sum'}")
    backends = list(dict.fromkeys(args.backend))  # repeated names once
    # --combine: one system of all backends; otherwise one evaluation per backend
    split = options_per_backend(backends, options)  # every option checked before any scoring
    groups = [backends] if args.combine else [[b] for b in backends]
    undefined = []
    for group in groups:
        try:
            results = evaluate_run(
                args.run, backend=group if args.combine else group[0], data=args.data, ensemble=args.ensemble,
                backend_options=options if args.combine else split[group[0]], ground_truth_dir=args.ground_truth,
                batch_size=args.batch_size, combine=args.combine or "sum", skip_bad=args.skip_bad,
            )
        except MetricError as exc:
            if len(groups) == 1:
                raise
            # Metrics undefined on these data (e.g. a section with normal test clips only): this backend's
            # score files are written; the other backends are still scored, and the exit status says it.
            print(f"asd-tf evaluate: error: backend {group[0]}: {exc}", file=sys.stderr)
            undefined.append(group[0])
            continue
        if len(groups) > 1 or args.combine:
            print(f"scoring backend: {results['backend']}" + (f" ({args.combine})" if args.combine else ""))
        print(format_summary(results))
    return 2 if undefined else 0
