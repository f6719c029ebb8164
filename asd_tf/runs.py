"""The run directory: where a training run keeps its files, and how to load them back.

``training`` writes a run through this module (file names, the lock, atomic saves),
``evaluation``, ``explain`` and the comparison runner read it (:class:`Run`,
:class:`Member`, :func:`evaluation_dir`); none of them needs another's internals.

Layout of ``RUN_DIR`` (one model)::

    config.yaml            resolved TrainConfig
    label_set.json         class names of the auxiliary task
    model.keras            waveform -> embedding model (loads with safe_mode=True)
    head.keras             the loss layer (centres, scale, trainable head weights)
    backup/                BackupAndRestore state (deleted when training finishes)
    checkpoints/last.weights.h5
    logs/training.csv      per-epoch loss, scale, intra/inter-class compactness
    logs/tensorboard/
    train_summary.json
    scope.json             (machine, section) of an individual model (members/ only)
    skipped_clips.json     clips left out by --skip-bad, with their problem (only with --skip-bad)
    .lock                  held (fcntl) by the one process training into the directory
    .complete              written last: training finished
    embeddings/            cached embeddings (asd_tf.scoring.embeddings)
    submission/, results.json, results.md    the default (k-means) evaluation
    evaluation/<name>/     every other evaluation (:func:`evaluation_dir`)

With ``labels: individual`` every machine x section gets its own model in
``members/<machine>_section_<XX>/`` with the same files. With ``members: N`` (an ensemble,
:mod:`asd_tf.training.members`) ``RUN_DIR`` is member 0 and member ``i`` a whole run directory
``members_ensemble/m<i>/`` (seed + i). Under
MultiWorkerMirroredStrategy the chief writes ``RUN_DIR``; every other worker
writes the same files (the same model: training is synchronous) to
``.workers/<task>_<index>/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import ConfigError, RunError
from .settings import SYSTEMS, TrainConfig

MODEL_FILE = "model.keras"
HEAD_FILE = "head.keras"
CONFIG_FILE = "config.yaml"
LABELS_FILE = "label_set.json"
COMPLETE_FILE = ".complete"
LOCK_FILE = ".lock"
SUMMARY_FILE = "train_summary.json"
SCOPE_FILE = "scope.json"
SKIPPED_FILE = "skipped_clips.json"
EVALUATION_DIR = "evaluation"
MEMBERS_DIR = "members"
ENSEMBLE_DIR = "members_ensemble"  # further members of an ensemble (members: N), not the individual models
WORKERS_DIR = ".workers"


def ensemble_member_dir(run_dir: str | Path, index: int) -> Path:
    """Run directory of ensemble member ``index`` (``members: N``): ``run_dir`` itself for 0, else ``run_dir/members_ensemble/m<index>``."""
    run_dir = Path(run_dir)
    return run_dir if index == 0 else run_dir / ENSEMBLE_DIR / f"m{index}"


def member_dirname(machine: str, section: str) -> str:
    """Folder name of the individual model of ``machine`` x ``section`` under ``members/``."""
    return f"{machine}_section_{section}"


def mark_complete(directory: Path) -> None:
    """Write ``directory/.complete`` (the time, ISO format): the last file a finished training writes."""
    from .io_utils import atomic_write_text

    atomic_write_text(directory / COMPLETE_FILE, time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")


def save_keras_atomic(model, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` file beside ``path``, then rename: never a half-written model."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def evaluation_dir(
    run_dir: Path,
    backend: str | Sequence[str],
    ensemble: bool,
    combine: str = "sum",
    options: dict[str, Any] | None = None,
) -> Path:
    """Output folder of an evaluation: the run itself for plain k-means, else ``evaluation/<name>/``.

    "Plain k-means": one backend that declares ``writes_to_run_root``
    (:class:`asd_tf.scoring.base.ScoringBackend`), one run, summed, no options.

    ``<name>`` = the backend names joined by ``+``, then ``_ensemble`` when
    several runs are combined, ``_zscore`` for per-section standardised members,
    and ``@key=value,...`` (sorted) for non-default backend options.
    """
    backends = [backend] if isinstance(backend, str) else list(backend)
    if len(backends) == 1 and not ensemble and combine == "sum" and not options and _writes_to_run_root(backends[0]):
        return run_dir
    name = "+".join(backends) + ("_ensemble" if ensemble else "") + ("_zscore" if combine == "zscore" else "")
    if options:
        name += "@" + ",".join(f"{k}={_option_text(v)}" for k, v in sorted(options.items()))
    return run_dir / EVALUATION_DIR / name


def _writes_to_run_root(backend: str) -> bool:
    """Whether scoring backend ``backend`` declares ``writes_to_run_root`` (baseline scorings do not)."""
    from .scoring.backends import BACKENDS

    return backend in BACKENDS and bool(BACKENDS[backend].writes_to_run_root)


def _option_text(value: Any) -> str:
    """A file-name-safe rendering of an option value (``/`` and spaces replaced)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text.replace("/", "_").replace(" ", "")


@contextlib.contextmanager
def run_lock(directory: Path):
    """Hold an exclusive lock on ``directory/.lock`` (fcntl) while the block runs: one writer per run.

    A second process gets a RunError naming the holder (host and pid, written
    into the lock file). The lock goes with the process, so a killed run never
    leaves a stale one.
    """
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            who = f"pid {holder[1]} on {holder[0]}" if len(holder) >= 2 else "another process"
            raise RunError(
                f"{directory}: another asd-tf process ({who}) is training into this run directory; "
                "wait for it to finish (rerun the same command afterwards to resume) or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()} {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _load_keras_file(path: Path, what: str):
    """``keras.saving.load_model(path, safe_mode=True)``; RunError naming the file if it is corrupt."""
    import keras

    recover = (
        f"delete it and {path.parent / COMPLETE_FILE}, then rerun the same `asd-tf train` command: "
        "the model is saved again from checkpoints/last.weights.h5 without retraining"
    )
    if not zipfile.is_zipfile(path):
        raise RunError(f"{path}: the saved {what} is corrupt or truncated (not a .keras archive); {recover}")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise RunError(f"{path}: the saved {what} is corrupt ({type(exc).__name__}: {exc}); {recover}") from None


@dataclass
class Member:
    """One trained model of a run; ``scope`` is ``(machine, section)`` for individual models,
    ``(machine, None)`` for one model per machine type (the DCASE autoencoder baseline), else None."""

    directory: Path
    scope: tuple[str, str | None] | None

    def covers(self, machine: str, section: str) -> bool:
        return self.scope is None or (self.scope[0] == machine and self.scope[1] in (None, section))

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    def load_model(self):
        register_layers()
        if not self.model_path.exists():
            raise RunError(f"{self.model_path}: no trained model here; is training finished?")
        return _load_keras_file(self.model_path, "model")

    def load_head(self):
        register_layers()
        path = self.directory / HEAD_FILE
        if not path.exists():
            raise RunError(f"{path}: the run has no saved loss head")
        wrapper = _load_keras_file(path, "loss head")
        return wrapper.loss_layer

    def label_names(self) -> list[str]:
        path = self.directory / LABELS_FILE
        if not path.exists():
            raise RunError(f"{path}: missing label set")
        return json.loads(path.read_text())["names"]

    def label_set(self):
        from .data.labels import LabelSet

        return LabelSet.from_json(json.loads((self.directory / LABELS_FILE).read_text()))


def register_layers() -> None:
    """Import every module that registers serialisable layers a run's ``.keras`` files may hold.

    The registries know them all: each backbone's builder module (which imports its
    feature and block layers), each loss module, and the layers around a loss
    (``losses.registry.WRAPPERS``: FeatEx and the loss-head wrapper
    :class:`asd_tf.losses.head.LossHead`). A missing module is an error, not skipped.
    """
    from .losses.registry import LOSSES, WRAPPERS
    from .models.registry import BACKBONES

    for registry in (BACKBONES, LOSSES, WRAPPERS):
        for name in registry:
            registry[name]  # imports the entry's module (its layers register on import)


@dataclass
class Run:
    """A finished (or partial) training run directory."""

    directory: Path

    @classmethod
    def open(cls, directory: str | Path) -> "Run":
        directory = Path(directory)
        if not (directory / CONFIG_FILE).exists():
            raise RunError(f"{directory}: not a run directory (no {CONFIG_FILE}); train one with `asd-tf train`")
        return cls(directory)

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.load(self.directory / CONFIG_FILE)

    @property
    def complete(self) -> bool:
        return (self.directory / COMPLETE_FILE).exists()

    def members(self) -> list[Member]:
        members_dir = self.directory / MEMBERS_DIR
        if members_dir.is_dir():
            out = []
            for sub in sorted(p for p in members_dir.iterdir() if p.is_dir()):
                info_path = sub / SCOPE_FILE
                if not info_path.exists():
                    continue
                info = json.loads(info_path.read_text())
                out.append(Member(sub, (info["machine"], info.get("section"))))
            if not out:
                raise RunError(f"{members_dir}: no trained individual models")
            return out
        return [Member(self.directory, None)]

    def member_for(self, machine: str, section: str) -> Member:
        for member in self.members():
            if member.covers(machine, section):
                return member
        raise RunError(f"{self.directory}: no model covers {machine} section {section}")

    def summary(self) -> dict[str, Any]:
        path = self.directory / SUMMARY_FILE
        return json.loads(path.read_text()) if path.exists() else {}


# ---------------------------------------------------------------------------
# What scores a run: the systems a run may hold (``system`` in config.yaml) and
# the scoring names of each, read by training (to check --backend before
# training), evaluation and the comparison runner.

# SYSTEMS (the choices of the ``system`` setting) is defined with the settings schema, asd_tf.settings.

#: Scoring names of the baseline systems (the first is the default).
SYSTEM_BACKENDS: dict[str, tuple[str, ...]] = {
    "dcase_ae": ("ae_mse", "ae_mahala"),
    "logmel_knn": ("logmel_knn",),
}


def system_backends(system: str) -> tuple[str, ...]:
    """Scoring names valid for runs of ``system`` (``embedding``: every scoring backend)."""
    if system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)}")
    if system == "embedding":
        from .scoring.backends import BACKENDS

        return tuple(sorted(BACKENDS))
    return SYSTEM_BACKENDS[system]


def default_backend(system: str) -> str:
    """The backend ``asd-tf evaluate`` uses for a run of ``system`` without ``--backend``."""
    return "kmeans" if system == "embedding" else system_backends(system)[0]


def check_backends(system: str, backends: Sequence[str], where: str = "--backend") -> None:
    """ConfigError naming the valid choices when a backend does not score runs of ``system``."""
    valid = system_backends(system)
    unknown = [b for b in backends if b not in valid]
    if unknown:
        raise ConfigError(f"{where}: {unknown} do not score {system!r} runs; choose from {list(valid)}")


#: Model and feature options of a ``dcase_ae`` run (``backbone_options`` overrides them).
AE_OPTIONS: dict[str, Any] = {
    "frames": 5,
    "n_mels": 128,
    "hidden_units": 128,
    "hidden_layers": 4,
    "bottleneck": 8,
    "validation_split": 0.1,
}


def ae_options(cfg) -> dict[str, Any]:
    """The autoencoder's options: :data:`AE_OPTIONS` updated with ``cfg.backbone_options``."""
    if cfg.backbone != "dcase_ae":
        raise ConfigError(f"system dcase_ae has its own model; backbone must be 'dcase_ae', not {cfg.backbone!r}")
    unknown = sorted(set(cfg.backbone_options) - set(AE_OPTIONS))
    if unknown:
        raise ConfigError(f"dcase_ae: unknown model options {unknown}; known: {sorted(AE_OPTIONS)}")
    options = {**AE_OPTIONS, **cfg.backbone_options}
    for key in ("frames", "n_mels", "hidden_units", "hidden_layers", "bottleneck"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"dcase_ae: {key} must be a positive integer, got {value!r}")
    if not 0.0 <= float(options["validation_split"]) < 1.0:
        raise ConfigError(f"dcase_ae: validation_split must lie in [0, 1), got {options['validation_split']!r}")
    return options
