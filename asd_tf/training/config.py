"""Training configuration: one dataclass, resolved from defaults, YAML and the command line.

Defaults follow the paper (Wilkinghoff & Kurth, Sec. IV-B): sub-cluster AdaCos
with 16 sub-clusters, ``attribute`` labels, batch 64, Adam, 10 epochs, mixup
with lambda ~ U(0, 1) on every batch, the first 10 s of each clip.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

LABEL_SETS = ("none", "machine", "section", "attribute", "individual")


@dataclass
class TrainConfig:
    """Every setting of a training run (saved as ``config.yaml`` in the run directory)."""

    data: str = ""
    out: str = ""
    loss: str = "subcluster_adacos"
    labels: str = "attribute"
    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    strategy: str = "auto"
    backbone: str = "reference"
    branches: str = "both"
    num_samples: int = 160000
    sample_rate: int = 16000
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay_optimizer: float = 0.0  # AdamW decay (other systems); the reference uses L2 in the model
    lr_schedule: str = "constant"  # constant | cosine
    mixup_prob: float = 1.0
    mixup_alpha: float | None = None  # None: lambda ~ U(0, 1) (paper); else Beta(alpha, alpha)
    label_mix: str = "linear"  # linear (paper) | max (public code)
    loss_params: dict[str, Any] = field(default_factory=dict)
    backbone_options: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None  # layout family override; inferred from the data otherwise
    max_train_clips: int | None = None  # subsample (seeded) for quick presets
    mixed_precision: bool = False
    jit: bool = False
    cache_dir: str | None = None
    verbose: int = 1
    system: str = "embedding"  # embedding | dcase_ae | logmel_knn (asd_tf.training.systems)

    def validate(self) -> "TrainConfig":
        from ..losses.registry import LOSSES
        from .systems import SYSTEMS

        if self.system not in SYSTEMS:
            raise ConfigError(f"unknown system {self.system!r}; choose one of {', '.join(SYSTEMS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.labels not in LABEL_SETS:
            raise ConfigError(f"unknown label set {self.labels!r}; choose one of {', '.join(LABEL_SETS)}")
        if self.branches not in ("both", "spectrogram", "spectrum"):
            raise ConfigError(f"--branches must be both, spectrogram or spectrum, not {self.branches!r}")
        if self.label_mix not in ("linear", "max"):
            raise ConfigError(f"label_mix must be 'linear' or 'max', not {self.label_mix!r}")
        if self.optimizer not in ("adam", "adamw"):
            raise ConfigError(f"optimizer must be 'adam' or 'adamw', not {self.optimizer!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"lr_schedule must be 'constant' or 'cosine', not {self.lr_schedule!r}")
        for name in ("epochs", "batch_size", "num_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0.0 <= self.mixup_prob <= 1.0:
            raise ConfigError(f"mixup_prob must lie in [0, 1], got {self.mixup_prob}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        from ..io_utils import atomic_write_text

        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read training config: {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
        return cls.from_dict(values)


# Settings that must agree between a run directory and a resumed run.
IDENTITY_KEYS = (
    "loss", "labels", "backbone", "branches", "num_samples", "seed", "batch_size",
    "loss_params", "backbone_options", "mixup_prob", "mixup_alpha", "label_mix", "system",
)
