"""The comparison table: finished runs' ``results.json`` aggregated over trials into the paper's layout.

Rows = loss and auxiliary task with the number of classes found in the data;
columns = AUC and pAUC for the source domain, the target domain and both domains
(harmonic means over sections, percent) and the official score (Wilkinghoff &
Kurth, Table II). DCASE 2020 tables (the EMM ablation, Zhao et al. Table II) get
per-machine-type AUC/pAUC columns and their arithmetic average instead. Each
cell is the mean and the sample standard deviation (ddof = 1) over the trials.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import runs
from ..errors import ConfigError, RunError
from .experiment import Experiment, table_rows
from .jobs import results_path, run_dir_for

DECIMALS = 1  # the paper prints one decimal
_DOMAIN_COLUMNS = (
    ("source", "auc"), ("source", "pauc"), ("target", "auc"), ("target", "pauc"), ("both", "auc"), ("both", "pauc"),
)
# DCASE 2020 machine types in the order of the EMM paper's tables.
_MACHINE_ORDER_2020 = ("fan", "pump", "slider", "valve", "toycar", "toyconveyor")
_METRIC_LABEL = {"auc": "AUC", "pauc": "pAUC"}


@dataclass(frozen=True)
class Column:
    """One table column: ``key`` in the per-run values, ``group`` and ``metric`` for the header."""

    key: str
    group: str
    metric: str

    @property
    def label(self) -> str:
        return f"{self.group} {self.metric}".strip()


@dataclass
class RowSummary:
    """One table row aggregated over its trials (values in percent)."""

    experiment: Experiment
    classes: str
    seeds: list[int]
    values: dict[str, np.ndarray]  # column key -> [n_trials] (nan: undefined in that trial)

    def mean(self, key: str) -> float:
        v = self.values.get(key)
        if v is None or v.size == 0 or np.all(np.isnan(v)):
            return math.nan
        return float(np.nanmean(v))

    def std(self, key: str) -> float:
        """Sample standard deviation (ddof = 1) over the trials; nan with fewer than two."""
        v = self.values.get(key)
        if v is None:
            return math.nan
        v = v[~np.isnan(v)]
        return float(np.std(v, ddof=1)) if v.size >= 2 else math.nan


@dataclass
class ComparisonTable:
    dataset: str
    columns: list[Column]
    rows: list[RowSummary]
    missing: list[str] = field(default_factory=list)  # run dirs without results

    def best(self, key: str) -> set[int]:
        """Rows with the highest mean in column ``key`` (compared at the printed precision; ties all win)."""
        means = [round(r.mean(key), DECIMALS) for r in self.rows]
        valid = [m for m in means if not math.isnan(m)]
        if not valid:
            return set()
        top = max(valid)
        return {i for i, m in enumerate(means) if m == top}


def task_label(row: RowSummary) -> str:
    """The row's auxiliary task with the number of classes found in the data, e.g. ``machine types (3)``."""
    return f"{row.experiment.task} ({row.classes})"


def table_values(results: dict[str, Any]) -> dict[str, float | None]:
    """Table values (fractions) of one ``results.json``: Table II columns or DCASE 2020 machine types.

    Keys ``<domain>_<auc|pauc>`` (source, target, both) for DCASE 2021-2023;
    ``<machine>_<auc|pauc>`` and ``average_<auc|pauc>`` (arithmetic mean over
    machine types, as in the EMM paper) for DCASE 2020; ``official`` always.
    """
    out: dict[str, float | None] = {}
    if results.get("dataset") == "dcase2020" and results.get("machine_types"):
        types = results["machine_types"]
        for machine, v in types.items():
            out[f"{machine.lower()}_auc"] = v["auc"]
            out[f"{machine.lower()}_pauc"] = v["pauc"]
        out["average_auc"] = float(np.mean([v["auc"] for v in types.values()]))
        out["average_pauc"] = float(np.mean([v["pauc"] for v in types.values()]))
    else:
        t2 = results.get("table2") or {}
        for domain, metric in _DOMAIN_COLUMNS:
            out[f"{domain}_{metric}"] = (t2.get(domain) or {}).get(metric)
    out["official"] = results.get("official_score")
    return out


def _columns_for(dataset: str, keys: set[str]) -> list[Column]:
    if dataset != "dcase2020":
        cols = [Column(f"{d}_{m}", f"{d} domain" if d != "both" else "both domains", _METRIC_LABEL[m])
                for d, m in _DOMAIN_COLUMNS]
    else:
        machines = sorted({k.rsplit("_", 1)[0] for k in keys} - {"average", "official"},
                          key=lambda m: (_MACHINE_ORDER_2020.index(m) if m in _MACHINE_ORDER_2020 else 99, m))
        cols = [Column(f"{m}_{x}", m, _METRIC_LABEL[x]) for m in machines + ["average"] for x in ("auc", "pauc")]
    return cols + [Column("official", "official score", "")]


def count_classes(run_dir: Path) -> str:
    """Number of auxiliary classes of a finished run as found in its data (``1`` for individual models)."""
    run_dir = Path(run_dir)
    summary = run_dir / runs.SUMMARY_FILE
    if summary.exists() and json.loads(summary.read_text()).get("system") in ("dcase_ae", "logmel_knn"):
        return "-"  # a baseline has no auxiliary classes
    if (run_dir / runs.MEMBERS_DIR).is_dir():
        return "1"
    label_file = run_dir / runs.LABELS_FILE
    if label_file.exists():
        return str(len(json.loads(label_file.read_text())["names"]))
    summary = run_dir / runs.SUMMARY_FILE
    if summary.exists():
        classes = json.loads(summary.read_text()).get("classes")
        if classes is not None:
            return str(classes)
    return "?"


def summarize(experiments: Sequence[Experiment], out: str | os.PathLike, trials: int | None = None) -> ComparisonTable:
    """Aggregate the finished runs under ``out`` (seeds ``0..trials-1``, or every ``seed*`` found)."""
    out = Path(out)
    if not experiments:
        raise ConfigError("no experiments to summarise")
    datasets = sorted({e.dataset for e in experiments})
    if len(datasets) != 1:
        raise ConfigError(f"one table holds one dataset year, got {datasets}")
    rows: list[RowSummary] = []
    missing: list[str] = []
    keys: set[str] = set()
    for exp in table_rows(list(experiments)):
        if trials is not None:
            seeds = list(range(trials))
        else:
            seeds = sorted(int(p.name[4:]) for p in (out / exp.name).glob("seed*") if p.name[4:].isdigit())
        per_seed: list[tuple[int, dict[str, float | None]]] = []
        classes: set[str] = set()
        for seed in seeds:
            run_dir = run_dir_for(out, exp, seed)
            path = results_path(run_dir, exp.backend)
            if not path.exists():
                missing.append(str(run_dir))
                continue
            try:
                results = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise RunError(f"{path}: unreadable results: {exc}") from exc
            values = table_values(results)
            keys |= set(values)
            per_seed.append((seed, values))
            classes.add(count_classes(run_dir))
        row_keys = sorted({k for _, v in per_seed for k in v})
        arrays = {
            k: np.array([100.0 * v[k] if v.get(k) is not None else np.nan for _, v in per_seed], dtype=np.float64)
            for k in row_keys
        }
        rows.append(RowSummary(exp, "/".join(sorted(classes)) or "?", [s for s, _ in per_seed], arrays))
    return ComparisonTable(datasets[0], _columns_for(datasets[0], keys), rows, missing)
