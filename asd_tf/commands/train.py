"""``asd-tf train``: train a model into a run directory, then evaluate it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .options import add_train_flags, train_values_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an ASD model on a dataset's training split",
        description="Train an embedding model with an auxiliary classification loss (defaults follow the paper).",
    )
    p.add_argument("--config", help="YAML file of settings (a saved config.yaml, or an experiment YAML such as "
                                    "asd_tf/comparison/configs/*.yaml); command-line flags override it")
    add_train_flags(p)  # one flag per TrainConfig setting (asd_tf.commands.options)
    p.add_argument("--combine", choices=["sum", "zscore"], default="sum",
                   help="how --members are combined: sum (the reference code) or zscore (each member "
                        "standardised per section on its training scores, then summed)")
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

    An experiment YAML (``asd_tf/comparison/configs/*.yaml``, recognised by its ``row`` key) gives its training
    settings minus the table metadata, and its ``backends``; any other YAML is a saved
    ``TrainConfig`` (backends ``None``). No file: ``({}, None)``.
    """
    from ..settings import TrainConfig, read_yaml

    if not path:
        return {}, None
    raw = read_yaml(path, "--config") or {}
    if isinstance(raw, dict) and "row" in raw:
        from ..comparison.experiment import load_experiment

        experiment = load_experiment(path)
        return dict(experiment.train), list(experiment.backends)
    return TrainConfig.load(path).to_dict(), None


def config_from_args(args: argparse.Namespace, file_values: dict[str, Any] | None = None):
    """The TrainConfig of the command line: ``--config`` file values (or ``file_values``), then flags."""
    from ..settings import TrainConfig

    values = train_values_from_args(args, _config_file(args.config)[0] if file_values is None else file_values)
    if args.quiet:
        values["verbose"] = 2
    from ..training.systems import apply_system_defaults

    return TrainConfig.from_dict(apply_system_defaults(values)).validate()


def eval_backends_from_args(args: argparse.Namespace, file_backends: list[str] | None = None) -> list[str]:
    """Backends of the evaluation after training: ``--backend``, else an experiment YAML's ``backends``, else kmeans."""
    if args.backend:
        return list(args.backend)
    return list(file_backends) if file_backends is not None else ["kmeans"]


def _demo_values(args: argparse.Namespace, file_values: dict[str, Any]) -> dict[str, Any]:
    """``file_values`` over the demonstration settings (narrow model options only for the reference model)."""
    import copy

    from ..training.demo import DEMO_SETTINGS

    values = copy.deepcopy(DEMO_SETTINGS)
    if (args.backbone or file_values.get("backbone") or "reference") != "reference":
        values.pop("backbone_options")
    values.update(file_values)
    return values


def run_train(args: argparse.Namespace) -> int:
    from ..console import keras_backend_name, start_tensorflow
    from ..training.demo import PhaseTimer, describe_demo, ensure_demo_data, how_to_read
    from ..training.members import train_members
    from ..training.run import format_train_summary

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
    timer.start("TensorFlow start" if keras_backend_name() == "tensorflow" else "Keras start")
    start_tensorflow()  # before the settings check, which imports the loss and backbone modules (Keras)
    cfg = config_from_args(args, file_values)
    if demo:
        print(describe_demo(cfg, Path(cfg.data), generated, data_seconds, own_data), flush=True)
    backends = eval_backends_from_args(args, file_backends)
    if cfg.system != "embedding" and not args.backend and file_backends is None:
        from ..runs import system_backends

        backends = list(system_backends(cfg.system))  # a baseline scores with each of its own backends
    if not args.no_evaluate:
        from ..runs import check_backends

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
        from ..evaluation.report import format_summary
        from ..evaluation.run import evaluate_run
        from ..runs import evaluation_dir

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
