"""Training configuration: one dataclass, resolved from defaults, YAML and the command line.

Defaults follow the paper (Wilkinghoff & Kurth, Sec. IV-B): sub-cluster AdaCos
with 16 sub-clusters, ``attribute`` labels, batch 64, Adam, 10 epochs, mixup
with lambda ~ U(0, 1) on every batch, the first 10 s of each clip.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.records import DATASETS
from ..errors import ConfigError
from .systems import SYSTEMS

LABEL_SETS = ("none", "machine", "section", "attribute", "individual")


def _setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, **rules: Any) -> Any:
    """A ``TrainConfig`` field with its checking rules in the field metadata.

    Rules (all optional): ``choices`` (a tuple, or the name of a registry function
    returning the accepted names), ``min``/``max`` (inclusive bounds), ``gt`` (exclusive
    lower bound). The type itself comes from the field's type hint (see :func:`check_value`).
    """
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=rules)
    return field(default=default, metadata=rules)


@dataclass
class TrainConfig:
    """Every setting of a training run (saved as ``config.yaml`` in the run directory).

    Each field's type hint and metadata (choices, bounds) are the single source of
    the checks :meth:`validate` applies to settings from any source.
    """

    data: str = ""
    out: str = ""
    loss: str = _setting("subcluster_adacos", choices="losses")
    labels: str = _setting("attribute", choices=LABEL_SETS)
    epochs: int = _setting(10, min=1)
    batch_size: int = _setting(64, min=1)
    seed: int = _setting(0, min=0)
    strategy: str = _setting("auto", choices=("auto", "default", "mirrored", "multiworker"))
    backbone: str = _setting("reference", choices="backbones")
    branches: str = _setting("both", choices=("both", "spectrogram", "spectrum"))
    num_samples: int = _setting(160000, min=1)
    sample_rate: int = _setting(16000, min=1)
    optimizer: str = _setting("adam", choices=("adam", "adamw"))
    learning_rate: float = _setting(1e-3, gt=0.0)
    # AdamW decay (other systems); the reference uses L2 in the model
    weight_decay_optimizer: float = _setting(0.0, min=0.0)
    lr_schedule: str = _setting("constant", choices=("constant", "cosine"))
    mixup_prob: float = _setting(1.0, min=0.0, max=1.0)
    # None: lambda ~ U(0, 1) (paper); else Beta(alpha, alpha)
    mixup_alpha: float | None = _setting(None, gt=0.0)
    label_mix: str = _setting("linear", choices=("linear", "max"))  # linear (paper) | max (public code)
    loss_params: dict[str, Any] = _setting(factory=dict)
    backbone_options: dict[str, Any] = _setting(factory=dict)
    # layout family override; inferred from the data otherwise
    dataset: str | None = _setting(None, choices=DATASETS)
    max_train_clips: int | None = _setting(None, min=1)  # subsample (seeded) for quick presets
    mixed_precision: bool = False
    jit: bool = False
    cache_dir: str | None = None
    skip_bad: bool = False  # leave unusable clips out (recorded in skipped_clips.json) instead of stopping
    verbose: int = _setting(1, min=0, max=2)
    system: str = _setting("embedding", choices=SYSTEMS)  # embedding | dcase_ae | logmel_knn (training.systems)
    # Label/domain variants (DESIGN section 8). false: no domain in class names, target clips get no class target
    domain_in_label: bool = True
    class_weights: str = _setting("none", choices=("none", "source_counts"))  # per-clip loss weights
    source_only: bool = False  # train on source clips only (target clips stay scoring references)
    input_crop: str = _setting("none", choices=("none", "random"))  # random: tiled, cropped from a random offset
    # Ensemble of members trained with seeds seed..seed+members-1 (training.members); not an identity
    # setting: a finished run grows from 5 to 10 members by rerunning with the larger count.
    members: int = _setting(1, min=1)

    def validate(self) -> "TrainConfig":
        """Check (and normalise in place) every setting; ConfigError naming the key, value and what is allowed.

        Types come from the field hints, bounds and choices from the field metadata;
        ``loss_params`` and ``backbone_options`` are checked against the signature
        of the chosen loss layer / backbone builder (:func:`check_options`). The
        baseline systems (``dcase_ae``, ``logmel_knn``) have their own model and
        check their own options (:mod:`asd_tf.training.baselines`).
        """
        hints = _field_hints()
        embedding = self.system == "embedding"
        for f in dataclasses.fields(self):
            value = check_value(f.name, getattr(self, f.name), hints[f.name])
            if embedding or f.name != "backbone":
                _check_rules(f.name, value, f.metadata)
            setattr(self, f.name, value)
        if self.system == "logmel_knn" and self.members > 1:
            raise ConfigError(f"members: {self.members}, but system logmel_knn trains no model "
                              "(an ensemble of seeds means nothing for it); use members: 1")
        if not embedding:
            return self
        from ..losses.featex import build_featex
        from ..losses.registry import FEATEX_PARAMS, loss_class
        from ..models.registry import BACKBONES

        import importlib

        module_name, func_name = BACKBONES[self.backbone].split(":")
        builder = getattr(importlib.import_module(module_name), func_name)
        # set by the training code itself, never by the user
        self.backbone_options = check_options(
            f"backbone {self.backbone!r} option", self.backbone_options, builder,
            exclude=("num_samples", "synchronized_bn", "name"),
        )
        # FeatEx options (``featex``, ``featex_prob``, ...) go with every loss: checked against build_featex
        params = dict(self.loss_params)
        featex = {k: params.pop(k) for k in list(params) if k in FEATEX_PARAMS}
        checked = check_options(
            f"loss {self.loss!r} parameter", params, loss_class(self.loss).__init__,
            exclude=("self", "num_classes", "embedding_dim"), extra=("name", "dtype", "trainable"),
            also=tuple(FEATEX_PARAMS),
        )
        if featex:
            flag = check_value("loss parameter featex", featex.pop("featex", False), bool)
            hints = typing.get_type_hints(build_featex)  # featex_<x> is build_featex's argument <x>
            checked["featex"] = flag
            for key, value in featex.items():
                checked[key] = check_value(f"loss parameter {key}", value, hints.get(FEATEX_PARAMS[key], Any))
        self.loss_params = checked
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """A config from a mapping (YAML, flags); values are type-checked, ranges by :meth:`validate`."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(unknown)}; accepted: {', '.join(known)}")
        hints = _field_hints()
        return cls(**{k: check_value(k, v, hints[k]) for k, v in values.items()})

    def save(self, path: str | Path) -> None:
        from ..io_utils import atomic_write_text

        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        values = read_yaml(path, "training config") or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
        return cls.from_dict(values)


# Settings that must agree between a run directory and a resumed run.
IDENTITY_KEYS = (
    "loss", "labels", "backbone", "branches", "num_samples", "seed", "batch_size",
    "loss_params", "backbone_options", "mixup_prob", "mixup_alpha", "label_mix", "system",
    "domain_in_label", "class_weights", "source_only", "input_crop",
)


# ---------------------------------------------------------------------------
# Checking values against type hints

# Numbers PyYAML (YAML 1.1) reads as strings: an exponent without a dot (1e-3, 2E5).
_YAML11_MISSED_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def read_yaml(path: str | Path, what: str) -> Any:
    """Parsed YAML file ``path``; ConfigError in one line if it is missing or not valid YAML."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def _field_hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(hint))
    if origin is not None:
        args = typing.get_args(hint)
        base = {dict: "a mapping", list: "a list", tuple: "a list"}.get(origin, "a list")
        if origin is dict:
            return base
        return f"{base} of {_type_name(args[0])}s" if args else base
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _bad(key: str, value: Any, hint: Any) -> ConfigError:
    return ConfigError(f"{key}: expected {_type_name(hint)}, got {value!r} ({type(value).__name__})")


def check_value(key: str, value: Any, hint: Any) -> Any:
    """``value`` checked against type hint ``hint`` (and normalised); ConfigError naming ``key`` otherwise.

    Booleans only as booleans (a YAML ``"no"`` string is not False); integers as
    integers (a float with an integral value is accepted: ``1.6e5``); numbers as
    int or float, including the exponent forms PyYAML reads as strings (``1e-3``).
    Unknown hints (``Any``, classes) accept anything.
    """
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_value(key, value, arg)
            except ConfigError:
                continue
        raise _bad(key, value, hint)
    if origin is not None:
        args = typing.get_args(hint)
        if origin is dict or (isinstance(origin, type) and issubclass(origin, collections.abc.Mapping)):
            if not isinstance(value, dict):
                raise _bad(key, value, hint)
            if args and args[0] is str and not all(isinstance(k, str) for k in value):
                raise ConfigError(f"{key}: expected a mapping with string keys, got {value!r}")
            return dict(value)
        if origin in (list, tuple, collections.abc.Sequence):
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise _bad(key, value, hint)
            item = args[0] if args else Any
            checked = [check_value(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
            return tuple(checked) if origin is tuple else checked
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise _bad(key, value, hint)
        return value
    if hint is int:
        if isinstance(value, str) and _YAML11_MISSED_NUMBER.match(value.strip()):
            value = float(value)
        if isinstance(value, bool):
            raise _bad(key, value, hint)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if not isinstance(value, int):
            raise _bad(key, value, hint)
        return int(value)
    if hint is float:
        if isinstance(value, str) and _YAML11_MISSED_NUMBER.match(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(key, value, hint)
        if not math.isfinite(float(value)):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _bad(key, value, hint)
        return value
    return value


def _choices(spec: Any) -> tuple[str, ...]:
    if spec == "losses":
        from ..losses.registry import LOSSES

        return tuple(LOSSES)
    if spec == "backbones":
        from ..models.registry import BACKBONES

        return tuple(BACKBONES)
    return tuple(spec)


def _check_rules(key: str, value: Any, rules: Any) -> None:
    """Bounds and choices of one setting (``None`` passes: it is the 'off' value of optional settings)."""
    if value is None:
        return
    if "choices" in rules:
        allowed = _choices(rules["choices"])
        if value not in allowed:
            raise ConfigError(f"unknown {key} {value!r}; choose one of {', '.join(allowed)}")
    if "min" in rules and value < rules["min"]:
        raise ConfigError(f"{key}: must be >= {rules['min']}, got {value!r}")
    if "max" in rules and value > rules["max"]:
        raise ConfigError(f"{key}: must be <= {rules['max']}, got {value!r}")
    if "gt" in rules and not value > rules["gt"]:
        raise ConfigError(f"{key}: must be > {rules['gt']}, got {value!r}")


def check_options(
    what: str, options: dict[str, Any], func: Any, exclude: tuple[str, ...] = (), extra: tuple[str, ...] = (),
    also: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``options`` checked against the keyword parameters of ``func`` (names and type hints).

    An unknown key raises ConfigError listing the accepted ones; a value of the
    wrong type names the key, the value and the expected type. ``exclude``:
    parameters the caller sets itself; ``extra``: accepted names ``func`` takes
    through ``**kwargs`` (unchecked); ``also``: further accepted names, checked
    elsewhere, listed in the error message.
    """
    signature = inspect.signature(func)
    params = {
        name: p for name, p in signature.parameters.items()
        if name not in exclude and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an unresolvable annotation: check names only
        hints = {}
    accepted = sorted(set(params) | set(extra))
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = sorted(set(accepted) | set(also))
        raise ConfigError(f"{what}: unknown key(s) {', '.join(unknown)}; accepted: {', '.join(listed)}")
    out = {}
    for key, value in options.items():
        hint = hints.get(key, Any)
        default = params[key].default if key in params else inspect.Parameter.empty
        if value is None and default is None:
            out[key] = None
            continue
        out[key] = check_value(f"{what} {key}", value, hint)
        if isinstance(value, (list, tuple)) and isinstance(out[key], list) and isinstance(default, tuple):
            out[key] = list(out[key])
    return out
