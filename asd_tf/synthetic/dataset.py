"""Writing a whole synthetic dataset (:func:`generate`): clips, tables and the ``.complete`` marker last."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import ConfigError, DatasetError
from ..io_utils import atomic_write_json, atomic_write_text
from .plan import SIZES, plan_dataset, plan_supplemental
from .signals import SAMPLE_RATE
from .tables import anonymised_names, attribute_tables, ground_truth_tables
from .writer import write_clips


GENERATOR_VERSION = "1"


def _mp_start_methods() -> list[str]:
    import multiprocessing as mp

    return mp.get_all_start_methods()


def generate(out_dir: str | os.PathLike, layout: str = "dcase2022", size: str = "small", seed: int = 0,
             eval_split: bool = False, n_jobs: int | None = None, profile: str = "factory") -> Path:
    """Write a synthetic dataset to ``out_dir`` and return its path.

    ``profile`` names the noise and fault design (PROFILES: ``factory``, the
    default, ``structural``, ``mixed_state`` or ``domain_shift``). If ``out_dir/.complete`` already describes the
    same (layout, size, seed, eval_split, profile, generator version), nothing
    is regenerated. ``n_jobs`` worker
    processes render clips in parallel (default: up to 2 for small/medium, 1 for
    tiny); the result is byte-identical whatever ``n_jobs`` is.
    """
    if eval_split and layout == "dcase2020":
        raise ConfigError("eval_split is defined for the dcase2022-dcase2025 layouts only "
                          "(2020 has no anonymised test set)")
    specs = plan_dataset(layout, size, profile)
    root = Path(out_dir)
    marker = root / ".complete"
    meta = {"layout": layout, "size": size, "seed": int(seed), "eval_split": bool(eval_split),
            "profile": profile, "generator_version": GENERATOR_VERSION}
    if marker.exists():
        try:
            old = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        old.setdefault("profile", "factory")  # markers written before profiles existed
        if all(old.get(k) == v for k, v in meta.items()):
            if eval_split and not (root / "ground_truth_attributes").is_dir():
                # sets written before ground_truth_attributes existed: add it (names only, no audio)
                tables = ground_truth_tables(specs, anonymised_names(specs, seed))
                for rel, text in tables.items():
                    if rel.startswith("ground_truth_attributes/"):
                        atomic_write_text(root / rel, text)
            return root
        raise DatasetError(f"{root}: already holds a different synthetic dataset "
                           f"({ {k: old.get(k) for k in meta} }); choose another directory or delete it")
    root.mkdir(parents=True, exist_ok=True)
    names = anonymised_names(specs, seed) if eval_split else {}
    jobs = [(str(root), s, int(seed), names.get(s, s.name)) for s in specs]
    supplemental = plan_supplemental(layout, size, profile)
    jobs += [(str(root), s, int(seed), s.name) for s in supplemental]
    if n_jobs is None:
        n_jobs = 1 if size == "tiny" else min(2, os.cpu_count() or 1)
    # Worker processes are forked (no __main__ guard needed by callers); forking a process
    # that already runs TensorFlow's thread pools can deadlock, so then render serially.
    if n_jobs > 1 and "tensorflow" not in sys.modules and "fork" in _mp_start_methods():
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        chunks = [jobs[i::n_jobs * 8] for i in range(n_jobs * 8)]
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("fork")) as pool:
            list(pool.map(write_clips, chunks))
    else:
        write_clips(jobs)

    if layout != "dcase2020":
        for rel, text in attribute_tables(specs, names, eval_split).items():
            atomic_write_text(root / rel, text)
    if eval_split:
        for rel, text in ground_truth_tables(specs, names).items():
            atomic_write_text(root / rel, text)

    counts: dict[str, dict[str, dict[str, int]]] = {}
    for s in specs:
        cell = f"{s.domain}_{s.split}_{s.label}"
        sec = counts.setdefault(s.machine, {}).setdefault(s.section, {})
        sec[cell] = sec.get(cell, 0) + 1
    meta.update({"sample_rate": SAMPLE_RATE, "duration_s": SIZES[size].duration_s, "n_clips": len(specs),
                 "counts": counts})
    if supplemental:
        meta["n_supplemental"] = len(supplemental)
    atomic_write_json(marker, meta)
    return root
