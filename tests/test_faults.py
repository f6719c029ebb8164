"""Faults a user can cause: bad settings, bad audio, kills, a shared run directory (issue 17).

Each test asserts the exit code or exception type, that the message names the
file or setting, and that nothing already computed was lost or duplicated.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_MODEL, TINY_SAMPLES

REPO = Path(__file__).resolve().parents[1]


def _parse_train(argv: list[str]):
    import argparse

    from asd_tf.training.cli import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return config_from_args(parser.parse_args(["train", "--data", "/d", "--out", "/o", *argv]))


def _config_yaml(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return ["--config", str(path)]


# ---------------------------------------------------------------------------
# Typed settings

@pytest.mark.parametrize(
    "text, key, expected",
    [
        ('epochs: "2"', "epochs", "an integer"),
        ("epochs: 1.5", "epochs", "an integer"),
        ("mixup_prob: high", "mixup_prob", "a number"),
        ("backbone_options: [1, 2]", "backbone_options", "a mapping"),
        ('mixed_precision: "no"', "mixed_precision", "true/false"),
        ("learning_rate: -0.1", "learning_rate", "> 0"),
        ("mixup_prob: 1.5", "mixup_prob", "<= 1"),
        ("labels: colour", "labels", "attribute"),
        ("verbos: 1", "verbos", "accepted:"),
    ],
)
def test_yaml_setting_of_wrong_type_or_range_names_key_and_value(tmp_path, text, key, expected):
    from asd_tf.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        _parse_train(_config_yaml(tmp_path, text))
    message = str(info.value)
    assert key in message and expected in message
    assert "\n" not in message


def test_yaml_numbers_and_booleans_are_read_as_yaml_means_them(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-3 as a string; it is a number. `no` unquoted is a boolean.
    cfg = _parse_train(_config_yaml(tmp_path, "learning_rate: 1e-3\nnum_samples: 1.6e5\nmixed_precision: no\n"))
    assert cfg.learning_rate == 0.001 and isinstance(cfg.learning_rate, float)
    assert cfg.num_samples == 160000 and isinstance(cfg.num_samples, int)
    assert cfg.mixed_precision is False


def test_flags_and_options_are_checked_before_anything_is_built():
    from asd_tf.errors import ConfigError

    with pytest.raises(ConfigError, match=r"learning_rate: must be > 0\.0, got -0\.1"):
        _parse_train(["--learning-rate", "-0.1"])
    with pytest.raises(ConfigError) as info:
        _parse_train(["--model-option", "stage_channel=[4, 8]"])
    assert "stage_channel" in str(info.value) and "stage_channels" in str(info.value)  # the accepted keys
    with pytest.raises(ConfigError) as info:
        _parse_train(["--loss-option", "num_subclustres=4"])
    assert "num_subclusters" in str(info.value)
    with pytest.raises(ConfigError, match=r"max_scale: expected a number, got 'big'"):
        _parse_train(["--loss-option", "max_scale=big"])
    with pytest.raises(ConfigError, match=r"stage_channels\[1\]: expected an integer"):
        _parse_train(["--model-option", "stage_channels=[4, x]"])
    cfg = _parse_train(["--loss-option", "max_scale=1e3", "--model-option", "branch_dim=16"])
    assert cfg.loss_params == {"max_scale": 1000.0} and cfg.backbone_options == {"branch_dim": 16}


def test_missing_or_broken_config_file_is_a_one_line_cli_error(tmp_path, capsys):
    from asd_tf.cli import main

    assert main(["train", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope.yaml" in err and "not found" in err and "\n" not in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.yaml" in err and "not valid YAML" in err and "\n" not in err
    assert not (tmp_path / "r").exists()  # nothing was created
