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
    .complete              written last: training finished

With ``labels: individual`` every machine x section gets its own model in
``members/<machine>_section_<XX>/`` with the same files. Under
MultiWorkerMirroredStrategy the chief writes ``RUN_DIR``; every other worker
writes the same files (the same model: training is synchronous) to
``.workers/<task>_<index>/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RunError

MODEL_FILE = "model.keras"
HEAD_FILE = "head.keras"
CONFIG_FILE = "config.yaml"
LABELS_FILE = "label_set.json"
COMPLETE_FILE = ".complete"
MEMBERS_DIR = "members"
WORKERS_DIR = ".workers"


def member_dirname(machine: str, section: str) -> str:
    return f"{machine}_section_{section}"


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
        import keras

        from .. import features, models  # noqa: F401  (register custom layers)

        _register_all()
        if not self.model_path.exists():
            raise RunError(f"{self.model_path}: no trained model here; is training finished?")
        return keras.saving.load_model(self.model_path, safe_mode=True, compile=False)

    def load_head(self):
        import keras

        _register_all()
        path = self.directory / HEAD_FILE
        if not path.exists():
            raise RunError(f"{path}: the run has no saved loss head")
        wrapper = keras.saving.load_model(path, safe_mode=True, compile=False)
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
