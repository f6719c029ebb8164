"""``asd-tf train``: train a model into a run directory, then evaluate it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..cli import parse_key_value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an ASD model on a dataset's training split",
        description="Train an embedding model with an auxiliary classification loss (defaults follow the paper).",
    )
    p.add_argument("--config", help="YAML file of settings (experiments/*.yaml); command-line flags override it")
    p.add_argument("--data", help="dataset root (DCASE layout)")
    p.add_argument("--out", help="run directory (created; rerun to resume)")
    p.add_argument("--loss", help="loss name (default subcluster_adacos)")
    p.add_argument("--labels", help="auxiliary label set: none|machine|section|attribute|individual")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size", help="global batch size")
    p.add_argument("--seed", type=int)
    p.add_argument("--strategy", choices=["auto", "default", "mirrored", "multiworker"])
    p.add_argument("--backbone")
    p.add_argument("--system", choices=["embedding", "dcase_ae", "logmel_knn"],
                   help="embedding (default): the embedding model + loss; dcase_ae: the official DCASE "
                        "autoencoder baseline; logmel_knn: log-mel statistics nearest neighbour (no training)")
    p.add_argument("--branches", choices=["both", "spectrogram", "spectrum"])
    p.add_argument("--num-samples", type=int, dest="num_samples", help="input length in samples (default 160000)")
    p.add_argument("--learning-rate", type=float, dest="learning_rate")
    p.add_argument("--mixup-prob", type=float, dest="mixup_prob")
    p.add_argument("--mixup-alpha", type=float, dest="mixup_alpha")
    p.add_argument("--label-mix", choices=["linear", "max"], dest="label_mix")
    p.add_argument("--max-train-clips", type=int, dest="max_train_clips")
    p.add_argument("--dataset", help="layout family override (dcase2020..dcase2025)")
    p.add_argument("--cache-dir", dest="cache_dir", help="on-disk cache of decoded audio (keyed by clip list)")
    p.add_argument("--loss-option", action="append", default=[], metavar="KEY=VALUE", help="loss parameter")
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE", help="backbone option")
    p.add_argument("--mixed-precision", action="store_true", default=None, dest="mixed_precision")
    p.add_argument("--jit", action="store_true", default=None, help="compile the train step with XLA")
    p.add_argument("--no-domain-in-label", action="store_false", default=None, dest="domain_in_label",
                   help="leave the domain out of the class label; target training clips get no class gradient "
                        "(they stay scoring references)")
    p.add_argument("--class-weights", choices=["none", "source_counts"], dest="class_weights",
                   help="per-clip loss weights: source_counts = source clips outside the class within its machine type")
    p.add_argument("--source-only", action="store_true", default=None, dest="source_only",
                   help="train on source clips only (target clips stay scoring references)")
    p.add_argument("--input-crop", choices=["none", "random"], dest="input_crop",
                   help="random: each input tiled and cut back from a random offset (a circular shift)")
    p.add_argument("--members", type=int, dest="members", metavar="N",
                   help="train N members with seeds seed..seed+N-1 (member 0 in RUN_DIR, member i in "
                        "RUN_DIR/members_ensemble/m<i>/; a rerun skips finished members) and evaluate their "
                        "scores as one system (default 1)")
    p.add_argument("--combine", choices=["sum", "zscore"], default="sum",
                   help="how --members are combined: sum (the reference code) or zscore (each member "
                        "standardised per section on its training scores, then summed)")
    p.add_argument("--skip-bad", action="store_true", default=None, dest="skip_bad",
                   help="leave out unusable clips (listed in RUN_DIR/skipped_clips.json) instead of stopping")
    p.add_argument("--preset", choices=["full", "demo"], default="full",
                   help="full (default): the paper's settings; demo: a few minutes on a CPU (2 s input, narrow "
                        "model, 12 epochs) on the synthetic `compare` set with the `mixed_state` profile, "
                        "generated into data/ when --data is not given (asd_tf/training/demo.py)")
    p.add_argument("--quiet", action="store_true", help="one line per epoch, no progress bars")
    p.add_argument("--no-evaluate", action="store_true", help="skip scoring and metrics after training")
    p.add_argument("--backend", nargs="+", default=None, metavar="BACKEND",
                   help="scoring backend(s) for the evaluation after training (default: the experiment "
                        "YAML's `backends`, else kmeans); each writes to its own evaluation folder")
    p.set_defaults(func=run_train)


def _config_file(path: str | None) -> tuple[dict[str, Any], list[str] | None]:
    """Training settings of a ``--config`` file and, for an experiment YAML, its scoring backends.

    An experiment YAML (``experiments/*.yaml``, recognised by its ``row`` key) gives its training
    settings minus the table metadata, and its ``backends``; any other YAML is a saved
    ``TrainConfig`` (backends ``None``). No file: ``({}, None)``.
    """
    from ..training.config import TrainConfig, read_yaml

    if not path:
        return {}, None
    raw = read_yaml(path, "--config") or {}
    if isinstance(raw, dict) and "row" in raw:
        from ..experiments.configs import load_experiment

        experiment = load_experiment(path)
        return dict(experiment.train), list(experiment.backends)
    return TrainConfig.load(path).to_dict(), None


def config_from_args(args: argparse.Namespace, file_values: dict[str, Any] | None = None):
    """The TrainConfig of the command line: ``--config`` file values (or ``file_values``), then flags."""
    from ..training.config import TrainConfig

    values: dict[str, Any] = dict(_config_file(args.config)[0] if file_values is None else file_values)
    for field in (
        "data", "out", "loss", "labels", "epochs", "batch_size", "seed", "strategy", "backbone", "branches",
        "num_samples", "learning_rate", "mixup_prob", "mixup_alpha", "label_mix", "max_train_clips", "dataset",
        "cache_dir", "mixed_precision", "jit", "system", "skip_bad",
        "domain_in_label", "class_weights", "source_only", "input_crop", "members",
    ):
        value = getattr(args, field, None)
        if value is not None:
            values[field] = value
    if args.loss_option:
        values["loss_params"] = {**values.get("loss_params", {}), **dict(map(parse_key_value, args.loss_option))}
    if args.model_option:
        values["backbone_options"] = {
            **values.get("backbone_options", {}), **dict(map(parse_key_value, args.model_option))
        }
    if args.quiet:
        values["verbose"] = 2
    from .systems import apply_system_defaults

    return TrainConfig.from_dict(apply_system_defaults(values)).validate()


def eval_backends_from_args(args: argparse.Namespace, file_backends: list[str] | None = None) -> list[str]:
    """Backends of the evaluation after training: ``--backend``, else an experiment YAML's ``backends``, else kmeans."""
    if args.backend:
        return list(args.backend)
    return list(file_backends) if file_backends is not None else ["kmeans"]


def _demo_values(args: argparse.Namespace, file_values: dict[str, Any]) -> dict[str, Any]:
    """``file_values`` over the demonstration settings (narrow model options only for the reference model)."""
    import copy

    from .demo import DEMO_SETTINGS

    values = copy.deepcopy(DEMO_SETTINGS)
    if (args.backbone or file_values.get("backbone") or "reference") != "reference":
        values.pop("backbone_options")
    values.update(file_values)
    return values


def run_train(args: argparse.Namespace) -> int:
    from ..console import start_tensorflow
    from .demo import PhaseTimer, describe_demo, ensure_demo_data, how_to_read
    from .members import train_members
    from .run import format_train_summary

    timer = PhaseTimer()
    file_values, file_backends = _config_file(args.config)  # read the --config file once
    demo = getattr(args, "preset", "full") == "demo"
    generated, data_seconds, own_data = False, 0.0, bool(args.data or file_values.get("data"))
    if demo:
        file_values = _demo_values(args, file_values)
        if not own_data:
            # before TensorFlow starts: the generator forks worker processes
            timer.start("data generation")
            data_dir, generated = ensure_demo_data(progress=not args.quiet)
            timer.stop()
            data_seconds = timer.seconds.get("data generation", 0.0)
            file_values["data"] = str(data_dir)
    timer.start("TensorFlow start")
    start_tensorflow()  # before the settings check, which imports the loss and backbone modules (Keras)
    cfg = config_from_args(args, file_values)
    if demo:
        print(describe_demo(cfg, Path(cfg.data), generated, data_seconds, own_data), flush=True)
    backends = eval_backends_from_args(args, file_backends)
    if cfg.system != "embedding" and not args.backend and file_backends is None:
        from .systems import system_backends

        backends = list(system_backends(cfg.system))  # a baseline scores with each of its own backends
    if not args.no_evaluate:
        from .systems import check_backends

        check_backends(cfg.system, backends)  # before training, not after hours of it
    timer.start("training")
    member_dirs = train_members(cfg)  # one member (the default): exactly train(cfg)
    run_dir = member_dirs[0]
    timer.stop()
    for member in member_dirs:
        print(format_train_summary(member))
    from ..distribute import worker_role

    if not worker_role()[0]:
        # the chief scores the run; a second scorer would race it for the same files
        print(f"multi-worker run: this worker's copy is in {run_dir}; the chief writes and evaluates {cfg.out}")
        return 0
    if not args.no_evaluate:
        from ..evaluation.run import evaluate_run, evaluation_dir
        from ..evaluation.report import format_summary

        timer.start("evaluation (embeddings, scoring)")
        first = None
        for backend in backends:
            results = evaluate_run(run_dir, backend=backend, skip_bad=cfg.skip_bad, progress=not args.quiet,
                                   ensemble=member_dirs[1:], combine=args.combine)
            print(f"scoring backend: {backend}" + (f", {len(member_dirs)} members ({args.combine})"
                                                   if len(member_dirs) > 1 else ""))
            print(format_summary(results))
            first = first or (results, evaluation_dir(Path(run_dir), backend, len(member_dirs) > 1, args.combine))
        timer.stop()
        print(how_to_read(*first))
    print(timer.summary())
    return 0
