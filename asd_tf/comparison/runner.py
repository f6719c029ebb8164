"""One comparison: every experiment config of a dataset year x N trials, then one table.

:func:`run_comparison` (``asd-tf compare``, ``python experiments/compare_losses.py``,
``make compare``) trains and evaluates each config for seeds ``0..N-1`` into
``<out>/<config name>/seed<k>/`` (:mod:`.jobs`), aggregates the ``results.json``
files (:mod:`.table`) and writes ``<out>/comparison.{md,csv,tex,json,png,pdf}``
(:mod:`.writers`). Rerun the same command after a kill: finished runs are skipped,
partial ones resume.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from ..io_utils import atomic_write_json
from .experiment import load_experiments, resolve_data, table_rows
from .jobs import parse_devices, plan_jobs, run_jobs
from .presets import Preset, get_preset
from .table import summarize
from .writers import write_outputs


def synthetic_data(dataset: str, size: str, root: str | os.PathLike = "data", seed: int = 0,
                   profile: str = "factory") -> Path:
    """Generate (once) the synthetic ``dataset``-layout set of ``size`` and ``profile`` under ``root``
    (the Makefile's naming: ``synthetic_<dataset>_<size>``, ``_<profile>`` appended unless factory)."""
    from ..synthetic import generate

    name = f"synthetic_{dataset}_{size}" + ("" if profile == "factory" else f"_{profile}")
    return generate(Path(root) / name, dataset, size, seed, profile=profile)


def run_comparison(
    dataset: str,
    trials: int | None = None,
    preset: str | Preset = "full",
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    pattern: str | None = None,
    devices: str = "auto",
    configs_dir: str | os.PathLike | None = None,
    synthetic_size: str | None = None,
    aggregate_only: bool = False,
    settings: dict[str, Any] | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
    synthetic_profile: str | None = None,
) -> tuple[dict[str, Path], dict[str, str]]:
    """Run (resumably) and aggregate one comparison; returns ``(output paths, failures)``."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if settings:
        p = p.with_overrides(settings)
    experiments = load_experiments(dataset, pattern, configs_dir)
    trials = p.trials if trials is None else int(trials)
    out = Path(out) if out else Path("runs") / f"compare_{dataset}_{p.name}"
    if data or os.environ.get(f"ASD_TF_DATA_{dataset.upper()}") or p.synthetic_size is None:
        root = resolve_data(dataset, data)
    else:
        size = synthetic_size or p.synthetic_size
        profile = synthetic_profile or p.synthetic_profile
        log(f"no --data: using synthetic {dataset} data ({size}, {profile} profile), generated once under data/")
        root = synthetic_data(dataset, size, profile=profile).resolve()
    failures: dict[str, str] = {}
    if not aggregate_only:
        jobs = plan_jobs(experiments, trials, out, root, p)
        failures = run_jobs(jobs, parse_devices(devices), out, log)
    table = summarize(experiments, out, trials)
    meta = {
        "command": command or f"run_comparison(dataset={dataset!r}, trials={trials}, preset={p.name!r})",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "preset": f"{p.name} ({p.description})",
        "trials": f"{trials} (seeds 0..{trials - 1})",
        "data": str(root),
        "backend": ", ".join(sorted({e.backend for e in table_rows(experiments)})),
    }
    if settings:
        meta["settings"] = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    if failures:
        atomic_write_json(out / "failures.json", failures)
    paths = write_outputs(table, out, meta)
    log(f"wrote {paths['md']} (+ csv, tex, json, png, pdf)")
    return paths, failures
