"""The run directory: where a training run keeps its files, and how to load them back.

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
    skipped_clips.json     clips left out by --skip-bad, with their problem (only with --skip-bad)
    .lock                  held (fcntl) by the one process training into the directory
    .complete              written last: training finished

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
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RunError

MODEL_FILE = "model.keras"
HEAD_FILE = "head.keras"
CONFIG_FILE = "config.yaml"
LABELS_FILE = "label_set.json"
COMPLETE_FILE = ".complete"
LOCK_FILE = ".lock"
MEMBERS_DIR = "members"
ENSEMBLE_DIR = "members_ensemble"  # further members of an ensemble (members: N), not the individual models
WORKERS_DIR = ".workers"


def ensemble_member_dir(run_dir: str | Path, index: int) -> Path:
    """Run directory of ensemble member ``index`` (``members: N``): ``run_dir`` itself for 0, else ``run_dir/members_ensemble/m<index>``."""
    run_dir = Path(run_dir)
    return run_dir if index == 0 else run_dir / ENSEMBLE_DIR / f"m{index}"


def member_dirname(machine: str, section: str) -> str:
    return f"{machine}_section_{section}"


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
        from .. import features, models  # noqa: F401  (register custom layers)

        _register_all()
        if not self.model_path.exists():
            raise RunError(f"{self.model_path}: no trained model here; is training finished?")
        return _load_keras_file(self.model_path, "model")

    def load_head(self):
        _register_all()
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
        from ..data.labels import LabelSet

        return LabelSet.from_json(json.loads((self.directory / LABELS_FILE).read_text()))


def _register_all() -> None:
    """Import every module that registers serialisable layers."""
    import importlib

    for name in (
        "asd_tf.features.stft", "asd_tf.features.spectrum", "asd_tf.features.normalization",
        "asd_tf.features.logmel", "asd_tf.models.reference", "asd_tf.models.blocks",
        "asd_tf.models.mobilefacenet", "asd_tf.models.stgram", "asd_tf.models.lowcomplexity",
        "asd_tf.models.fgaspecnet", "asd_tf.losses.registry", "asd_tf.training.head",
    ):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    # The loss registry imports its layer classes lazily; head.keras needs them registered.
    from ..losses.registry import LOSSES, loss_class

    for loss_name in LOSSES:
        loss_class(loss_name)


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
    def config(self):
        from .config import TrainConfig

        return TrainConfig.load(self.directory / CONFIG_FILE)

    @property
    def complete(self) -> bool:
        return (self.directory / COMPLETE_FILE).exists()

    def members(self) -> list[Member]:
        members_dir = self.directory / MEMBERS_DIR
        if members_dir.is_dir():
            out = []
            for sub in sorted(p for p in members_dir.iterdir() if p.is_dir()):
                info_path = sub / "scope.json"
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
        path = self.directory / "train_summary.json"
        return json.loads(path.read_text()) if path.exists() else {}
