"""Command-line options shared by the commands: ``KEY=VALUE`` parsing and the training flags.

The training flags of ``asd-tf train`` are generated from the fields of
:class:`asd_tf.settings.TrainConfig`: each field's type hint gives the
flag's type, its ``_setting`` metadata (``help``, ``metavar``, ``flag``,
``choices``, ``flag_choices``) the rest, so a new setting is one field, not a
field plus a flag kept by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Iterator

from ..errors import ConfigError


def parse_key_value(text: str, what: str = "option", example: str = "branch_dim=64") -> tuple[str, Any]:
    """Parse a ``KEY=VALUE`` command-line option; the value is read as YAML (numbers, lists, ...).

    ``what`` names the option in errors (``option``, ``--set``); ``example`` shows a valid one.
    """
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{what} {text!r}: expected KEY=VALUE" + (f", e.g. {example}" if example else ""))
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {text!r}: cannot parse the value ({exc})") from exc
    return key.strip(), parsed


@dataclasses.dataclass(frozen=True)
class SettingFlag:
    """The command-line flag of one TrainConfig field."""

    field: str  # TrainConfig field name
    flag: str  # e.g. --batch-size
    dest: str  # argparse destination (the field name; loss_option / model_option for the dict fields)
    kind: str  # "value", "true" (store_true), "false" (store_false), "key_value" (repeatable KEY=VALUE)
    kwargs: dict[str, Any]  # further add_argument keywords (type, choices, help, metavar)


def _base_type(hint: Any) -> Any:
    """``int`` for ``int`` and ``int | None``, and so on; ``None`` for types argparse passes as text."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else hint
    if hint in (int, float, bool, dict):
        return hint
    if typing.get_origin(hint) is dict:
        return dict
    return None


def train_setting_flags() -> Iterator[SettingFlag]:
    """The flags of :class:`TrainConfig`'s fields in field order (fields with ``flag=False`` have none)."""
    from ..settings import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        meta = f.metadata
        if meta.get("flag") is False:
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        base = _base_type(hints[f.name])
        kwargs: dict[str, Any] = {}
        if "help" in meta:
            kwargs["help"] = meta["help"]
        if "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        if base is dict:
            dest = flag.lstrip("-").replace("-", "_")
            kwargs.setdefault("metavar", "KEY=VALUE")
            yield SettingFlag(f.name, flag, dest, "key_value", kwargs)
            continue
        if base is bool:
            yield SettingFlag(f.name, flag, f.name, "false" if f.default is True else "true", kwargs)
            continue
        if base in (int, float):
            kwargs["type"] = base
        choices = meta.get("choices")
        if isinstance(choices, tuple) and meta.get("flag_choices", True):
            kwargs["choices"] = list(choices)
        yield SettingFlag(f.name, flag, f.name, "value", kwargs)


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per TrainConfig setting; unset flags stay ``None`` (``[]`` for KEY=VALUE ones)."""
    for s in train_setting_flags():
        if s.kind == "key_value":
            parser.add_argument(s.flag, action="append", default=[], dest=s.dest, **s.kwargs)
        elif s.kind in ("true", "false"):
            action = "store_true" if s.kind == "true" else "store_false"
            parser.add_argument(s.flag, action=action, default=None, dest=s.dest, **s.kwargs)
        else:
            parser.add_argument(s.flag, dest=s.dest, **s.kwargs)


def train_values_from_args(args: argparse.Namespace, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (settings from a file) overridden by the training flags given on the command line (a new dict).

    ``KEY=VALUE`` flags (``--loss-option``, ``--model-option``) update the file's mapping key by key.
    """
    out = dict(values)
    for s in train_setting_flags():
        given = getattr(args, s.dest, None)
        if s.kind == "key_value":
            if given:
                out[s.field] = {**out.get(s.field, {}), **dict(map(parse_key_value, given))}
        elif given is not None:
            out[s.field] = given
    return out
