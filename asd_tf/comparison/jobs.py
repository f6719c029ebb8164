"""The comparison's jobs: one training run per experiment config x seed, run resumably.

A job whose training finished (``.complete``) is not retrained and a backend whose
``results.json`` exists is not re-evaluated; a partially trained run resumes inside
:func:`asd_tf.training.run.train`. With two or more GPUs each job runs in its own
process pinned to one GPU (``CUDA_VISIBLE_DEVICES``; ``python -m asd_tf.comparison.jobs
--worker JOB_FILE``), one job per GPU at a time; otherwise in this process, one after
the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import runs
from ..errors import ASDError, ConfigError
from ..io_utils import atomic_write_json
from ..runs import evaluation_dir
from .experiment import Experiment
from .presets import Preset


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
    return evaluation_dir(Path(run_dir), backend, False) / "results.json"


def job_done(job: Job) -> bool:
    """Training finished and every backend evaluated."""
    return (job.run_dir / runs.COMPLETE_FILE).exists() and all(
        results_path(job.run_dir, b).exists() for b in job.experiment.backends
    )


def run_job(job: Job, progress: bool = False) -> None:
    """Train (or resume) and evaluate one job in this process; finished parts are skipped."""
    import keras

    from ..evaluation.run import evaluate_run
    from ..settings import TrainConfig
    from ..training.run import train

    try:
        if not (job.run_dir / runs.COMPLETE_FILE).exists():
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
    from .experiment import load_experiment

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
                cmd = [sys.executable, "-m", "asd_tf.comparison.jobs", "--worker", str(_job_file(job, out))]
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


if __name__ == "__main__":  # the per-GPU subprocess of run_jobs
    if sys.argv[1:2] != ["--worker"] or len(sys.argv) != 3:
        sys.exit("usage: python -m asd_tf.comparison.jobs --worker JOB_FILE")
    sys.exit(_worker(sys.argv[2]))
