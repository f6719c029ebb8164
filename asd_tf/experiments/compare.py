"""Loss comparison: every experiment config of a dataset year x N trials, then one table.

``python experiments/compare_losses.py --dataset dcase2022 --trials 5 --preset full --data /path``
(``make compare``) trains and evaluates each config for seeds ``0..N-1`` into
``<out>/<config name>/seed<k>/`` and aggregates the ``results.json`` files into
the paper's Table II layout (Wilkinghoff & Kurth): rows = loss and auxiliary
task with the number of classes found in the data, columns = AUC and pAUC for
the source domain, the target domain and both domains (harmonic means over
sections, percent), mean +- std over trials, best per column in bold, and the
official score. DCASE 2020 configs (the EMM ablation, Zhao et al. Table II) get
per-machine-type AUC/pAUC columns and their arithmetic average instead.

Resuming: a run whose training finished (``.complete``) is not retrained and a
backend whose ``results.json`` exists is not re-evaluated; a partially trained
run resumes inside :func:`asd_tf.training.run.train`. Rerun the same command
after a kill.

Devices: with two or more visible GPUs each job runs in its own process pinned
to one GPU (``CUDA_VISIBLE_DEVICES``), one job per GPU at a time; otherwise the
jobs run one after the other in this process.

Outputs in ``<out>``: ``comparison.{md,csv,tex,json,png,pdf}``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ASDError, ConfigError, RunError
from ..io_utils import atomic_write_json, atomic_write_text
from .configs import Experiment, load_experiments, resolve_data, table_rows
from .presets import Preset, get_preset

DECIMALS = 1  # the paper prints one decimal
_DOMAIN_COLUMNS = (
    ("source", "auc"), ("source", "pauc"), ("target", "auc"), ("target", "pauc"), ("both", "auc"), ("both", "pauc"),
)
# DCASE 2020 machine types in the order of the EMM paper's tables.
_MACHINE_ORDER_2020 = ("fan", "pump", "slider", "valve", "toycar", "toyconveyor")
_METRIC_LABEL = {"auc": "AUC", "pauc": "pAUC"}


# ----------------------------------------------------------------------------- jobs


@dataclass
class Job:
    """One training run of the comparison: ``experiment`` with ``seed`` in ``run_dir``."""

    experiment: Experiment
    seed: int
    run_dir: Path
    values: dict[str, Any]  # complete TrainConfig settings

    @property
    def label(self) -> str:
        return f"{self.experiment.name}/seed{self.seed}"


def run_dir_for(out: str | os.PathLike, experiment: Experiment, seed: int) -> Path:
    """``<out>/<config name>/seed<seed>``."""
    return Path(out) / experiment.name / f"seed{seed}"


def plan_jobs(experiments: Sequence[Experiment], trials: int, out: str | os.PathLike, data: str | os.PathLike,
              preset: Preset) -> list[Job]:
    """All jobs, trial-major (every config of seed 0 first), so a partial comparison already fills the table."""
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    jobs = []
    for seed in range(trials):
        for exp in experiments:
            run_dir = run_dir_for(out, exp, seed)
            values = preset.apply(exp.train)
            values.update(data=str(data), out=str(run_dir), seed=seed)
            jobs.append(Job(exp, seed, run_dir, values))
    return jobs


def results_path(run_dir: Path, backend: str) -> Path:
    """Where :func:`asd_tf.evaluation.run.evaluate_run` writes ``results.json`` for ``backend``."""
    from ..evaluation.run import evaluation_dir

    return evaluation_dir(Path(run_dir), backend, False) / "results.json"


def job_done(job: Job) -> bool:
    """Training finished and every backend evaluated."""
    return (job.run_dir / ".complete").exists() and all(
        results_path(job.run_dir, b).exists() for b in job.experiment.backends
    )


def run_job(job: Job, progress: bool = False) -> None:
    """Train (or resume) and evaluate one job in this process; finished parts are skipped."""
    import keras

    from ..evaluation.run import evaluate_run
    from ..training.config import TrainConfig
    from ..training.run import train

    try:
        if not (job.run_dir / ".complete").exists():
            train(TrainConfig.from_dict(job.values))
        for backend in job.experiment.backends:
            if not results_path(job.run_dir, backend).exists():
                evaluate_run(job.run_dir, backend=backend, progress=progress)
    finally:
        keras.backend.clear_session()  # one process trains many models: free the graphs


def _job_file(job: Job, out: Path) -> Path:
    path = out / ".jobs" / f"{job.experiment.name}_seed{job.seed}.json"
    atomic_write_json(path, {
        "experiment": str(job.experiment.path), "seed": job.seed, "run_dir": str(job.run_dir),
        "values": job.values,
    })
    return path


def _worker(job_file: str) -> int:
    """Subprocess entry: run the job described by ``job_file`` (see :func:`_job_file`)."""
    from .configs import load_experiment

    spec = json.loads(Path(job_file).read_text())
    job = Job(load_experiment(spec["experiment"]), int(spec["seed"]), Path(spec["run_dir"]), spec["values"])
    run_job(job)
    return 0


def visible_gpus() -> list[str]:
    """GPU ids visible to child processes: ``$CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [d.strip() for d in env.split(",") if d.strip()]
        return [] if ids in ([], ["-1"]) else ids
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in listing.splitlines() if l.startswith("GPU "))]


def parse_devices(spec: str) -> list[str]:
    """``auto`` (visible GPUs), ``cpu`` (none: in-process), or a comma-separated GPU id list."""
    spec = spec.strip()
    if spec == "auto":
        return visible_gpus()
    if spec in ("cpu", "", "none"):
        return []
    ids = [d.strip() for d in spec.split(",") if d.strip()]
    if not all(d.isdigit() for d in ids):
        raise ConfigError(f"--devices must be auto, cpu or GPU ids like 0,1,2; got {spec!r}")
    return ids


def run_jobs(jobs: Sequence[Job], devices: Sequence[str], out: Path,
             log: Callable[[str], None] = print) -> dict[str, str]:
    """Run the unfinished jobs; returns ``{job label: error}`` of the failed ones (the others go on)."""
    pending = [j for j in jobs if not job_done(j)]
    skipped = len(jobs) - len(pending)
    log(f"{len(jobs)} runs planned, {skipped} already finished, {len(pending)} to run"
        + (f" on GPUs {','.join(devices)}" if len(devices) > 1 else " in this process"))
    failures: dict[str, str] = {}
    if len(devices) <= 1:
        for k, job in enumerate(pending, 1):
            log(f"[{k}/{len(pending)}] {job.label}")
            started = time.time()
            try:
                run_job(job)
            except Exception as exc:  # keep going: one failed row must not lose the others
                failures[job.label] = f"{type(exc).__name__}: {exc}"
                log(f"  FAILED {job.label}: {failures[job.label]}")
                if not isinstance(exc, ASDError):
                    log(traceback.format_exc())
            else:
                log(f"  done in {time.time() - started:.0f} s")
        return failures

    queue = list(pending)
    running: dict[str, tuple[subprocess.Popen, Job, Any]] = {}
    while queue or running:
        for gpu in devices:
            if gpu not in running and queue:
                job = queue.pop(0)
                job.run_dir.mkdir(parents=True, exist_ok=True)
                logfile = open(job.run_dir / "compare_worker.log", "a")
                env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu)
                cmd = [sys.executable, "-m", "asd_tf.experiments.compare", "--worker", str(_job_file(job, out))]
                running[gpu] = (subprocess.Popen(cmd, env=env, stdout=logfile, stderr=subprocess.STDOUT), job, logfile)
                log(f"GPU {gpu}: {job.label}")
        time.sleep(2.0)
        for gpu, (proc, job, logfile) in list(running.items()):
            if proc.poll() is None:
                continue
            logfile.close()
            del running[gpu]
            if proc.returncode != 0:
                failures[job.label] = f"worker exited with {proc.returncode}; see {job.run_dir / 'compare_worker.log'}"
                log(f"  FAILED {job.label}: {failures[job.label]}")
            else:
                log(f"  done {job.label}")
    return failures


# ----------------------------------------------------------------------------- aggregation


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
    summary = run_dir / "train_summary.json"
    if summary.exists() and json.loads(summary.read_text()).get("system") in ("dcase_ae", "logmel_knn"):
        return "-"  # a baseline has no auxiliary classes
    if (run_dir / "members").is_dir():
        return "1"
    label_file = run_dir / "label_set.json"
    if label_file.exists():
        return str(len(json.loads(label_file.read_text())["names"]))
    summary = run_dir / "train_summary.json"
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


# ----------------------------------------------------------------------------- formatting


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.{DECIMALS}f}"


def _cell(row: RowSummary, key: str) -> str:
    mean, std = row.mean(key), row.std(key)
    if math.isnan(mean):
        return "-"
    return _num(mean) if math.isnan(std) else f"{_num(mean)} ± {_num(std)}"


def _task(row: RowSummary) -> str:
    return f"{row.experiment.task} ({row.classes})"


def to_markdown(table: ComparisonTable, meta: dict[str, Any] | None = None) -> str:
    """The comparison as a markdown document (ours, then the paper's reported values if any)."""
    meta = meta or {}
    out = [f"# Loss comparison on {table.dataset}", ""]
    for k, v in meta.items():
        out.append(f"- {k}: `{v}`" if k == "command" else f"- {k}: {v}")
    if meta:
        out.append("")
    out += [
        "Harmonic means over sections in percent (DCASE 2020: arithmetic means over machine IDs and types); "
        "mean ± standard deviation (ddof = 1) over the trials; best per column in bold.",
        "",
    ]
    header = ["loss", "auxiliary task (classes)", "trials"] + [c.label for c in table.columns]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * 3 + "---:|" * len(table.columns))
    best = {c.key: table.best(c.key) for c in table.columns}
    for i, row in enumerate(table.rows):
        cells = [row.experiment.row, _task(row), str(len(row.seeds))]
        for c in table.columns:
            text = _cell(row, c.key)
            cells.append(f"**{text}**" if i in best[c.key] else text)
        out.append("| " + " | ".join(cells) + " |")
    paper_rows = [r for r in table.rows if r.experiment.paper]
    if paper_rows:
        keys = [c for c in table.columns if any(c.key in r.experiment.paper for r in paper_rows)]
        extra = sorted({k for r in paper_rows for k in r.experiment.paper} - {c.key for c in keys})
        keys += [Column(k, k.rsplit("_", 1)[0], _METRIC_LABEL.get(k.rsplit("_", 1)[-1], "")) for k in extra]
        out += ["", "## Reported in the paper (mean over trials, %)", "",
                "| loss | auxiliary task | " + " | ".join(c.label for c in keys) + " |",
                "|---|---|" + "---:|" * len(keys)]
        for r in paper_rows:
            vals = [_num(r.experiment.paper[c.key]) if c.key in r.experiment.paper else "-" for c in keys]
            out.append(f"| {r.experiment.row} | {r.experiment.task} | " + " | ".join(vals) + " |")
    if table.missing:
        out += ["", f"Runs without results ({len(table.missing)}): " + ", ".join(f"`{m}`" for m in table.missing)]
    out += ["", "Configs: " + ", ".join(f"`{r.experiment.path.name}`" for r in table.rows)]
    return "\n".join(out) + "\n"


def to_csv(table: ComparisonTable) -> str:
    """One line per row: labels, classes, trials, then ``<column>_mean`` and ``<column>_std`` (percent)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["config", "loss", "task", "classes", "trials"]
                    + [f"{c.key}_{s}" for c in table.columns for s in ("mean", "std")])
    for row in table.rows:
        cells: list[Any] = [row.experiment.name, row.experiment.row, row.experiment.task, row.classes, len(row.seeds)]
        for c in table.columns:
            cells += [_csv_num(row.mean(c.key)), _csv_num(row.std(c.key))]
        writer.writerow(cells)
    return buf.getvalue()


def _csv_num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.4f}"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "σ": r"$\sigma$", "λ": r"$\lambda$", "±": r"$\pm$", "×": r"$\times$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: ComparisonTable, caption: str | None = None) -> str:
    """A ``table`` environment in the paper's layout (grouped headers, ``\\textbf`` for the best)."""
    cols = table.columns
    groups: list[tuple[str, int]] = []
    for c in cols:
        if groups and groups[-1][0] == c.group:
            groups[-1] = (c.group, groups[-1][1] + 1)
        else:
            groups.append((c.group, 1))
    best = {c.key: table.best(c.key) for c in cols}
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + latex_escape(caption or f"ASD performance on {table.dataset}: harmonic means over sections "
                                    "in percent, mean and standard deviation over trials; best per column in bold.")
        + "}",
        r"\begin{tabular}{ll" + "c" * len(cols) + "}",
        r"\hline",
        " & & " + " & ".join(rf"\multicolumn{{{n}}}{{c}}{{{latex_escape(g)}}}" for g, n in groups) + r" \\",
        "loss & auxiliary task (classes) & " + " & ".join(latex_escape(c.metric) for c in cols) + r" \\",
        r"\hline",
    ]
    for i, row in enumerate(table.rows):
        cells = [latex_escape(row.experiment.row), latex_escape(_task(row))]
        for c in cols:
            mean, std = row.mean(c.key), row.std(c.key)
            if math.isnan(mean):
                text = "-"
            elif math.isnan(std):
                text = _num(mean)
            else:
                text = f"{_num(mean)} \\pm {_num(std)}"
            if i in best[c.key] and text != "-":
                text = rf"\mathbf{{{text}}}"
            cells.append(f"${text}$" if text != "-" else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_json(table: ComparisonTable) -> dict[str, Any]:
    return {
        "dataset": table.dataset,
        "columns": [{"key": c.key, "group": c.group, "metric": c.metric} for c in table.columns],
        "rows": [
            {
                "config": r.experiment.name, "loss": r.experiment.row, "task": r.experiment.task,
                "classes": r.classes, "seeds": r.seeds, "backend": r.experiment.backend,
                "values": {k: [None if np.isnan(x) else float(x) for x in v] for k, v in r.values.items()},
                "mean": {c.key: None if math.isnan(r.mean(c.key)) else r.mean(c.key) for c in table.columns},
                "std": {c.key: None if math.isnan(r.std(c.key)) else r.std(c.key) for c in table.columns},
                "paper": r.experiment.paper,
            }
            for r in table.rows
        ],
        "missing": table.missing,
    }


def plot(table: ComparisonTable, path_stem: str | os.PathLike) -> list[Path]:
    """Grouped bar chart (one group per column, one bar per row, error bars = std); PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = table.columns
    n_rows = max(1, len(table.rows))
    width = 0.8 / n_rows
    x = np.arange(len(cols))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cols) + 2), 4.2))
    cmap = plt.get_cmap("tab10" if n_rows <= 10 else "tab20")
    for i, row in enumerate(table.rows):
        means = np.array([row.mean(c.key) for c in cols])
        stds = np.array([row.std(c.key) for c in cols])
        ax.bar(x - 0.4 + (i + 0.5) * width, np.nan_to_num(means), width, yerr=np.nan_to_num(stds),
               capsize=2, color=cmap(i % cmap.N), label=f"{row.experiment.row}, {_task(row)}")
    ax.axhline(50.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels([c.label for c in cols], rotation=30, ha="right")
    ax.set_ylabel("%")
    lows = [row.mean(c.key) for row in table.rows for c in cols if not math.isnan(row.mean(c.key))]
    ax.set_ylim(max(0.0, (min(lows) if lows else 40.0) - 10.0), 100.0)
    ax.set_title(f"{table.dataset}: mean ± std over trials")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    stem = Path(path_stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        tmp = p.with_name(p.stem + ".tmp" + p.suffix)
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, p)
    plt.close(fig)
    return paths


def write_outputs(table: ComparisonTable, out: str | os.PathLike, meta: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``comparison.{md,csv,tex,json,png,pdf}`` into ``out``; returns the paths by format."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": atomic_write_text(out / "comparison.md", to_markdown(table, meta)),
        "csv": atomic_write_text(out / "comparison.csv", to_csv(table)),
        "tex": atomic_write_text(out / "comparison.tex", to_latex(table)),
        "json": atomic_write_json(out / "comparison.json", {"meta": meta or {}, **to_json(table)}),
    }
    png, pdf = plot(table, out / "comparison")
    paths.update(png=png, pdf=pdf)
    return paths


# ----------------------------------------------------------------------------- the command


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


def build_parser() -> argparse.ArgumentParser:
    from ..synthetic import PROFILES, SIZES

    p = argparse.ArgumentParser(
        prog="compare_losses.py",
        description="Train and evaluate every experiment config of a dataset year for N trials "
                    "and write the paper's Table II-style comparison (resumable: rerun after a kill).",
    )
    p.add_argument("--dataset", required=True, help="dcase2020 | dcase2022 | dcase2023")
    p.add_argument("--trials", type=int, help="trials (seeds 0..N-1); default: the preset's (full 5, quick 3)")
    p.add_argument("--preset", default="full", help="full (the papers' settings) | quick (CI-sized)")
    p.add_argument("--data", help="dataset root (default: $ASD_TF_DATA_<YEAR>; quick: synthetic data)")
    p.add_argument("--out", help="output folder (default runs/compare_<dataset>_<preset>)")
    p.add_argument("--configs", help="glob selecting configs, e.g. 'dcase2022_compactness_*' or 'recipes/*'")
    p.add_argument("--configs-dir", help="folder of experiment YAMLs (default: experiments/)")
    p.add_argument("--devices", default="auto", help="auto | cpu | GPU ids (0,1,...): one trial per GPU")
    p.add_argument("--synthetic-size", choices=list(SIZES),
                   help="size of the synthetic data generated without --data (quick preset: compare)")
    p.add_argument("--synthetic-profile", choices=list(PROFILES),
                   help="sound profile of that synthetic data (quick preset: mixed_state)")
    p.add_argument("--aggregate-only", action="store_true", help="only rebuild the tables from finished runs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="TrainConfig setting for every run, applied after the preset (YAML value), e.g. "
                        "--set epochs=20 --set num_samples=160000; use a new --out when changing it")
    return p


def _parse_settings(items: Sequence[str]) -> dict[str, Any]:
    import yaml

    from ..training.config import TrainConfig

    known = set(TrainConfig.__dataclass_fields__)
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        key = key.strip()
        if key not in known or key in ("data", "out", "seed", "dataset"):
            raise ConfigError(f"--set {key}: not a TrainConfig setting the comparison lets you change")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return _worker(argv[1])
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = "python experiments/compare_losses.py " + " ".join(shlex.quote(a) for a in argv)
    try:
        _, failures = run_comparison(
            args.dataset, args.trials, args.preset, args.data, args.out, args.configs, args.devices,
            args.configs_dir, args.synthetic_size, args.aggregate_only, _parse_settings(args.settings), command,
            synthetic_profile=args.synthetic_profile,
        )
    except ASDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if failures:
        print(f"{len(failures)} runs failed: " + "; ".join(f"{k}: {v}" for k, v in failures.items()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
