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


# ---------------------------------------------------------------------------
# Exact resume after kills

RESUME_RUN = dict(epochs=3, batch_size=8, max_train_clips=32)  # 4 steps per epoch


def _env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0", **extra)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _train_killed_at(data: Path, run_dir: Path, moment: str) -> None:
    """Train in a subprocess that SIGKILLs itself at ``moment`` (asd_tf.training.resume.fault_point)."""
    code = (
        "import sys; sys.path.insert(0, 'tests'); from conftest import train_tiny_run;"
        f"train_tiny_run({str(data)!r}, {str(run_dir)!r}, **{RESUME_RUN!r})"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(ASD_TF_FAULT_AT=moment),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == -9, f"not killed at {moment}: rc {proc.returncode}\n{proc.stderr.decode()[-2000:]}"


def _weights(path: Path) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as fh:
        fh.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _model_weights(run_dir: Path) -> dict[str, np.ndarray]:
    """Every array of model.keras and head.keras (the zip holds model.weights.h5)."""
    import zipfile

    out = {}
    for name in ("model.keras", "head.keras"):
        with zipfile.ZipFile(run_dir / name) as zf:
            target = run_dir.parent / f"{run_dir.name}_{name}.h5"
            target.write_bytes(zf.read("model.weights.h5"))
        out.update({f"{name}/{k}": v for k, v in _weights(target).items()})
    return out


def _rows(run_dir: Path) -> list[dict]:
    if not (run_dir / "logs" / "training.csv").exists():
        return []
    with open(run_dir / "logs" / "training.csv") as fh:
        return list(csv.DictReader(fh))


def test_killed_training_resumes_to_the_same_weights_and_logs(tiny_data, tmp_path, reference_run):
    from conftest import train_tiny_run

    reference = reference_run
    run_dir = tmp_path / "killed"
    # One run killed three times: after epoch 1 was saved, in the middle of epoch 2,
    # and while the final model is written (after model.keras, before head.keras).
    _train_killed_at(tiny_data, run_dir, "epoch_end:0")
    assert [r["epoch"] for r in _rows(run_dir)] in ([], ["0"])  # the CSV follows the saved state
    _train_killed_at(tiny_data, run_dir, "batch:1:1")
    assert [r["epoch"] for r in _rows(run_dir)] == ["0"]
    _train_killed_at(tiny_data, run_dir, "final_save")
    assert (run_dir / "model.keras").exists() and not (run_dir / ".complete").exists()
    assert (run_dir / "backup").exists()  # kept until .complete: no retraining from scratch
    train_tiny_run(tiny_data, run_dir, **RESUME_RUN)

    assert (run_dir / ".complete").exists() and not (run_dir / "backup").exists()
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["epochs_run_this_call"] == 0  # the last call only saved the model
    assert summary["final"] == json.loads((reference / "train_summary.json").read_text())["final"]
    assert _rows(run_dir) == _rows(reference)  # each epoch once, same numbers
    assert [r["epoch"] for r in _rows(run_dir)] == ["0", "1", "2"]
    expected, got = _model_weights(reference), _model_weights(run_dir)
    assert sorted(got) == sorted(expected) and len(got) > 20
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


@pytest.fixture(scope="module")
def reference_run(tiny_data, tmp_path_factory) -> Path:
    from conftest import train_tiny_run

    return Path(train_tiny_run(tiny_data, tmp_path_factory.mktemp("reference") / "run", **RESUME_RUN))


def test_corrupt_backup_falls_back_to_the_last_checkpoint(tiny_data, tmp_path, reference_run, monkeypatch, capfd):
    from conftest import train_tiny_run

    from asd_tf.training.resume import InjectedFault

    run_dir = tmp_path / "run"
    # Stop right after the backup of epoch 2 was saved (checkpoints/ still hold epoch 1).
    monkeypatch.setenv("ASD_TF_FAULT_AT", "raise:epoch_end:1")
    with pytest.raises(InjectedFault):
        train_tiny_run(tiny_data, run_dir, **RESUME_RUN)
    monkeypatch.delenv("ASD_TF_FAULT_AT")
    backup_weights = run_dir / "backup" / "epoch_2.weights.h5"
    data = backup_weights.read_bytes()
    backup_weights.write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    capfd.readouterr()
    train_tiny_run(tiny_data, run_dir, **RESUME_RUN)
    err = capfd.readouterr().err
    assert "backup" in err and "last.weights.h5" in err and "epoch 1" in err
    # It redid epoch 2 from epoch 1's state and ended where the uninterrupted run did.
    assert json.loads((run_dir / "train_summary.json").read_text())["epochs_run_this_call"] == 2
    assert _rows(run_dir) == _rows(reference_run)
    expected, got = _model_weights(reference_run), _model_weights(run_dir)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
