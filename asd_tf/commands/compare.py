"""``asd-tf compare``: every experiment config of a dataset year x N trials, then one Table II-style table.

    asd-tf compare --dataset dcase2022 --trials 5 --preset full --data /path/to/dcase2022
    asd-tf compare --dataset dcase2023 --preset quick          # synthetic data
    python experiments/compare_losses.py ...                   # the same, as a recipe script

The experiment configs ship with the package (``asd_tf/comparison/configs/``);
``--configs-dir DIR`` reads another folder of them. Rerun the same command after
a kill: finished runs are skipped, partial ones resume (:mod:`asd_tf.comparison`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any, Sequence

from ..errors import ASDError, ConfigError

DESCRIPTION = ("Train and evaluate every experiment config of a dataset year for N trials "
               "and write the paper's Table II-style comparison (resumable: rerun after a kill).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The comparison's flags (shared by ``asd-tf compare`` and ``experiments/compare_losses.py``)."""
    from ..synthetic import PROFILES, SIZES

    p.add_argument("--dataset", required=True, help="dcase2020 | dcase2022 | dcase2023")
    p.add_argument("--trials", type=int, help="trials (seeds 0..N-1); default: the preset's (full 5, quick 3)")
    p.add_argument("--preset", default="full", help="full (the papers' settings) | quick (CI-sized)")
    p.add_argument("--data", help="dataset root (default: $ASD_TF_DATA_<YEAR>; quick: synthetic data)")
    p.add_argument("--out", help="output folder (default runs/compare_<dataset>_<preset>)")
    p.add_argument("--configs", help="glob selecting configs, e.g. 'dcase2022_compactness_*' or 'recipes/*'")
    p.add_argument("--configs-dir",
                   help="folder of experiment YAMLs (default: the configs shipped in asd_tf/comparison/configs/)")
    p.add_argument("--devices", default="auto", help="auto | cpu | GPU ids (0,1,...): one trial per GPU")
    p.add_argument("--synthetic-size", choices=list(SIZES),
                   help="size of the synthetic data generated without --data (quick preset: compare)")
    p.add_argument("--synthetic-profile", choices=list(PROFILES),
                   help="sound profile of that synthetic data (quick preset: mixed_state)")
    p.add_argument("--aggregate-only", action="store_true", help="only rebuild the tables from finished runs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="TrainConfig setting for every run, applied after the preset (YAML value), e.g. "
                        "--set epochs=20 --set num_samples=160000; use a new --out when changing it")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    p = subparsers.add_parser("compare", help="train and evaluate the experiment configs of a dataset year "
                                              "for N trials; write a Table II-style comparison",
                              description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=run_compare, command_line=None)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python experiments/compare_losses.py``."""
    p = argparse.ArgumentParser(prog="compare_losses.py", description=DESCRIPTION)
    add_arguments(p)
    return p


def _parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as TrainConfig settings (YAML values); the runner's own keys refused."""
    from ..settings import TrainConfig
    from .options import parse_key_value

    known = set(TrainConfig.__dataclass_fields__)
    out: dict[str, Any] = {}
    for item in items:
        key, value = parse_key_value(item, what="--set", example="")
        if key not in known or key in ("data", "out", "seed", "dataset"):
            raise ConfigError(f"--set {key}: not a TrainConfig setting the comparison lets you change")
        out[key] = value
    return out


def run_compare(args: argparse.Namespace) -> int:
    """Run the comparison of ``args``; 1 when some runs failed (the others are in the table)."""
    from ..comparison.runner import run_comparison

    command = args.command_line or "asd-tf " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    _, failures = run_comparison(
        args.dataset, args.trials, args.preset, args.data, args.out, args.configs, args.devices,
        args.configs_dir, args.synthetic_size, args.aggregate_only, _parse_settings(args.settings), command,
        synthetic_profile=args.synthetic_profile,
    )
    if failures:
        print(f"{len(failures)} runs failed: " + "; ".join(f"{k}: {v}" for k, v in failures.items()), file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python experiments/compare_losses.py``: the ``compare`` command with its own program name."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:  # the per-GPU subprocess (also ``python -m asd_tf.comparison.jobs``)
        from ..comparison.jobs import _worker

        return _worker(argv[1])
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args.command_line = "python experiments/compare_losses.py " + " ".join(shlex.quote(a) for a in argv)
    try:
        return run_compare(args)
    except ASDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
