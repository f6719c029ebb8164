"""Recipe trials: what the study recipes under ``experiments/`` share.

A recipe (``experiments/statex_comparison.py``, ``experiments/target_domain.py``) trains
its rows for seeds ``0..N-1`` on one synthetic set and keeps one table of them:

* :func:`run_trials`, the resumable job loop: every (row, seed) job not finished yet runs
  in a child process of the recipe itself (``--job ROW SEED``), one at a time, so a rerun
  after a kill skips finished jobs and code merged meanwhile is picked up by the next
  job; the table is rewritten (:func:`write_table`) after every job, so a partial run
  already gives a partial table;
* the table's numbers: :func:`values` of one ``results.json``, the finished seeds of a
  row per backend (:func:`results_per_backend`, :func:`train_seconds`) and their
  mean and sample standard deviation in percent (:func:`percent_stats`, ddof = 1);
* its Markdown: :func:`fmt`, :func:`meta_lines`, :func:`stats_table`;
* the command line all recipes share (:func:`recipe_parser`), the set it names
  (:func:`recipe_data`) and the meta lines recording both (:func:`command_line`,
  :func:`data_meta`; the data path relative to the checkout, as the tables are
  committed).

The rows, their experiments and the goal tables stay in the recipes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import RunError
from ..io_utils import atomic_write_text
from .jobs import results_path
from .runner import synthetic_data

#: A table column: (key in :func:`values`, Markdown header).
Columns = Sequence[tuple[str, str]]
#: ``{"mean": ..., "std": ...}``; None where no value (mean) or fewer than two (std).
Stat = dict[str, "float | None"]


def recipe_parser(description: str, out: str, results: str) -> argparse.ArgumentParser:
    """The options every recipe has: the synthetic set (``--layout --size --profile --data-seed``),
    ``--trials`` (3), ``--out`` (runs), ``--results`` (tables), ``--aggregate-only`` and the
    hidden ``--job ROW SEED`` of the child process; a recipe adds its own (``--rows`` ...)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--layout", default="dcase2023")
    p.add_argument("--size", default="target")
    p.add_argument("--profile", default="domain_shift")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--out", default=out)
    p.add_argument("--results", default=results)
    p.add_argument("--aggregate-only", action="store_true")
    p.add_argument("--job", nargs=2, metavar=("ROW", "SEED"), help=argparse.SUPPRESS)
    return p


def recipe_data(args: argparse.Namespace) -> Path:
    """The recipe's synthetic set (generated once under ``data/``), as an absolute path."""
    return synthetic_data(args.layout, args.size, seed=args.data_seed, profile=args.profile).resolve()


def checkout_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory (the checkout a recipe runs from, as its
    ``--out`` and ``--results`` are) when it lies under it, else absolute: a committed table
    then names the same set whichever checkout wrote it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def data_meta(args: argparse.Namespace, data: str | os.PathLike) -> str:
    """The table's ``data`` line: the set's path (:func:`checkout_relative`) and the command that makes it."""
    return (f"{checkout_relative(data)} (asd-tf synth --layout {args.layout} --size {args.size} "
            f"--profile {args.profile} --seed {args.data_seed})")


def command_line(script: str, argv: Sequence[str]) -> str:
    """The table's ``command`` line: ``python <script> <argv>``, shell-quoted."""
    return f"python {script} " + " ".join(shlex.quote(a) for a in argv)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot be read as JSON ({exc}); delete it to evaluate or train that run again") \
            from exc


def values(results: Mapping, columns: Columns) -> dict[str, float | None]:
    """Table values (fractions) of one ``results.json``: the ``hmean`` entries of ``columns``,
    ``official`` from ``official_score``; None where the file has none (e.g. AUC target without domains)."""
    out = {k: (results.get("hmean") or {}).get(k) for k, _ in columns if k != "official"}
    out["official"] = results.get("official_score")
    return out


def results_per_backend(run_root: Path, backends: Iterable[str], seeds: Iterable[int],
                        columns: Columns) -> Iterator[tuple[str, dict[int, dict[str, float | None]]]]:
    """``(backend, {seed: values})`` over the seeds whose ``<run_root>/seed<k>`` has that backend's
    ``results.json`` (:func:`asd_tf.comparison.jobs.results_path`); backends without any are left out."""
    seeds = list(seeds)
    for backend in backends:
        per_seed = {}
        for seed in seeds:
            path = results_path(run_root / f"seed{seed}", backend)
            if path.exists():
                per_seed[seed] = values(_read_json(path), columns)
        if per_seed:
            yield backend, per_seed


def train_seconds(run_root: Path, seeds: Iterable[int]) -> dict[int, float]:
    """``{seed: seconds_this_call}`` of the seeds whose ``<run_root>/seed<k>/train_summary.json`` exists."""
    out = {}
    for seed in seeds:
        summary = run_root / f"seed{seed}" / "train_summary.json"
        if summary.exists():
            out[seed] = _read_json(summary)["seconds_this_call"]
    return out


def summary(v: Iterable[float]) -> Stat:
    """Mean and sample standard deviation (ddof = 1) of ``v``; None for a mean of nothing or a std of one value."""
    v = np.asarray(list(v), dtype=float)
    return {"mean": float(v.mean()) if v.size else None, "std": float(v.std(ddof=1)) if v.size >= 2 else None}


def percent_stats(per_seed: Mapping[int, Mapping[str, float | None]], columns: Columns) -> dict[str, Stat]:
    """Per column, :func:`summary` of the seeds' values in percent; a seed without the value (None) is left out."""
    return {k: summary(np.array([s[k] for s in per_seed.values() if s.get(k) is not None], float) * 100)
            for k, _ in columns}


def fmt(s: Stat, digits: int = 1) -> str:
    """``mean ± std`` (``mean`` alone with one trial, ``-`` without any)."""
    if s["mean"] is None:
        return "-"
    return f"{s['mean']:.{digits}f}" + ("" if s["std"] is None else f" ± {s['std']:.{digits}f}")


def meta_lines(table: Mapping, keys: Sequence[str]) -> list[str]:
    """``- key: value`` for each of ``keys`` of the table's meta entries."""
    return [f"- {k}: {table[k]}" for k in keys]


def stats_table(rows: Iterable[Mapping], columns: Columns, seconds: bool = False) -> list[str]:
    """The Markdown table of ``rows`` (system, backend, seeds, ``fmt`` of each column's stats; with
    ``seconds`` a last column ``train s`` of ``stats["train_seconds"]`` without decimals)."""
    lines = ["| system | backend | seeds | " + " | ".join(h for _, h in columns)
             + (" | train s |" if seconds else " |"),
             "|---|---|---|" + "---:|" * (len(columns) + seconds)]
    for r in rows:
        lines.append(f"| {r['system']} | {r['backend']} | {','.join(map(str, r['seeds']))} | "
                     + " | ".join(fmt(r["stats"][k]) for k, _ in columns)
                     + (f" | {fmt(r['stats']['train_seconds'], 0)} |" if seconds else " |"))
    return lines


def write_table(results: Path, meta: Mapping, aggregate: Callable[[], dict],
                to_markdown: Callable[[dict], str]) -> dict:
    """Write ``<results>/table.{json,md}`` (atomically): ``meta``, the date (UTC), then ``aggregate()``'s
    entries (rows, goal tables); returns the table."""
    table = {**meta, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), **aggregate()}
    atomic_write_text(Path(results) / "table.json", json.dumps(table, indent=1) + "\n")
    atomic_write_text(Path(results) / "table.md", to_markdown(table))
    return table


def run_trials(plan: Iterable[tuple[str, int]], done: Callable[[str, int], bool], script: str | os.PathLike,
               argv: Sequence[str], write: Callable[[], None], aggregate_only: bool = False) -> int:
    """The resumable job loop; returns the exit status (1 if any job failed).

    Each ``(row, seed)`` of ``plan`` (read lazily, so a recipe may report skipped rows as it goes)
    that is not ``done`` runs as ``python <script> <argv> --job ROW SEED``, then ``write()``
    rewrites the table; a failed job is reported and the others go on. ``write()`` runs once more
    at the end (alone with ``aggregate_only``)."""
    failures = []
    if not aggregate_only:
        for key, seed in plan:
            if done(key, seed):
                continue
            t0 = time.time()
            print(f"{time.strftime('%H:%M:%S')} {key} seed {seed} ...", flush=True)
            rc = subprocess.call([sys.executable, str(script), *argv, "--job", key, str(seed)])
            print(f"{time.strftime('%H:%M:%S')} {key} seed {seed}: rc {rc}, {time.time() - t0:.0f} s", flush=True)
            if rc:
                failures.append(f"{key}/seed{seed}")
            write()
    write()
    if failures:
        print("failed: " + ", ".join(failures), file=sys.stderr)
        return 1
    return 0
