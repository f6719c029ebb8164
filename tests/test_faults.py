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

    from asd_tf.commands.train import config_from_args, register

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
    from asd_tf.commands import main

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

RESUME_RUN = dict(epochs=2, batch_size=8, max_train_clips=32)  # 4 steps per epoch


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


def test_killed_training_resumes_to_the_same_weights_and_logs(tiny_data, tmp_path, reference_run, monkeypatch):
    from conftest import train_tiny_run

    from asd_tf.training.resume import InjectedFault

    reference = reference_run
    run_dir = tmp_path / "killed"
    # One run stopped three times: between epochs (after epoch 1's state was saved, before
    # its CSV row; in-process, as nothing runs between the two), then SIGKILLed in the
    # middle of epoch 2 and while the final model is written (after model.keras, before head.keras).
    monkeypatch.setenv("ASD_TF_FAULT_AT", "raise:epoch_end:0")
    with pytest.raises(InjectedFault):
        train_tiny_run(tiny_data, run_dir, **RESUME_RUN)
    monkeypatch.delenv("ASD_TF_FAULT_AT")
    assert _rows(run_dir) == []  # the CSV row follows the saved state
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
    assert [r["epoch"] for r in _rows(run_dir)] == ["0", "1"]
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
    assert json.loads((run_dir / "train_summary.json").read_text())["epochs_run_this_call"] == 1
    assert _rows(run_dir) == _rows(reference_run)
    expected, got = _model_weights(reference_run), _model_weights(run_dir)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


# ---------------------------------------------------------------------------
# Bad audio: checked before anything is built

def _spoil(data_dir: Path) -> dict[str, Path]:
    """Four unusable training clips of different kinds in a copy of the tiny set (names stay valid)."""
    import soundfile as sf

    clips = sorted((data_dir / "fan" / "train").glob("*.wav"))
    cut, nan, empty, text = clips[0], clips[1], clips[2], clips[3]
    raw = cut.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])  # header still declares the full data chunk
    sf.write(str(nan), np.full(16000, np.nan, "float32"), 16000, subtype="FLOAT")
    empty.write_bytes(b"")
    text.write_text("not audio, just text\n")
    return {"truncated": cut, "NaN": nan, "empty file": empty, "not an audio file": text}


@pytest.fixture
def spoiled_data(tiny_data, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    return data, _spoil(data)


def test_bad_audio_stops_training_before_the_model_is_built_naming_every_clip(spoiled_data, tmp_path, capsys):
    from asd_tf.commands import main

    data, spoiled = spoiled_data
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "16",
            "--num-samples", str(TINY_SAMPLES), "--quiet", "--no-evaluate"]
    for key, value in TINY_MODEL.items():
        argv += ["--model-option", f"{key}={json.dumps(value)}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "4 of" in err and "--skip-bad" in err
    for problem, path in spoiled.items():
        line = next(l for l in err.splitlines() if str(path) in l)
        assert problem in line, line
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # no config, nothing built

    # --skip-bad: trains on the rest and records what it left out.
    assert main(argv + ["--skip-bad", "--max-train-clips", "16", "--batch-size", "8"]) == 0
    skipped = json.loads((out / "skipped_clips.json").read_text())["skipped"]
    assert sorted(s["path"] for s in skipped) == sorted(str(p) for p in spoiled.values())
    assert {s["path"]: s["problem"] for s in skipped}[str(spoiled["empty file"])] == "empty file (0 bytes)"
    assert (out / ".complete").exists()


def test_evaluate_checks_audio_and_skip_bad_records_the_clips(spoiled_data, reference_run, tmp_path):
    import shutil

    from asd_tf.evaluation.run import evaluate_run
    from asd_tf.errors import AudioError

    data, spoiled = spoiled_data
    test_clip = sorted((data / "valve" / "test").glob("*.wav"))[0]
    test_clip.write_bytes(test_clip.read_bytes()[:100])  # cut inside the data chunk
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)  # the shared run stays as it is
    with pytest.raises(AudioError) as info:
        evaluate_run(run_dir, data=str(data), progress=False)
    message = str(info.value)
    assert str(test_clip) in message and "truncated" in message
    assert all(str(p) in message for p in spoiled.values())  # every bad clip, train split included
    assert not (run_dir / "results.json").exists()
    results = evaluate_run(run_dir, data=str(data), progress=False, skip_bad=True)
    skipped = json.loads((run_dir / "skipped_clips.json").read_text())["skipped"]
    assert sorted(s["path"] for s in skipped) == sorted(map(str, [test_clip, *spoiled.values()]))
    assert 0.0 <= results["official_score"] <= 1.0


def test_index_does_not_count_empty_or_text_files_as_clips(spoiled_data, capsys):
    from asd_tf.commands import main

    data, spoiled = spoiled_data
    n_files = sum(1 for _ in data.glob("*/*/*.wav"))
    assert main(["index", str(data)]) == 2
    err = capsys.readouterr().err
    assert all(str(p) in err for p in spoiled.values())
    assert main(["index", str(data), "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert f"{n_files - 4} clips in" in captured.out
    assert "4 file(s) skipped" in captured.err and "empty file (0 bytes)" in captured.err


def test_short_clips_and_long_inputs_are_warned_once_each(tmp_path, make_wav):
    from asd_tf.data.audio import AudioConfig
    from asd_tf.data.audit import audit_clips

    full = make_wav(tmp_path / "full.wav", np.zeros(16000))
    half = make_wav(tmp_path / "half.wav", np.zeros(8000))
    tiny = make_wav(tmp_path / "tiny.wav", np.zeros(800))  # 5 % of the input: not a usable input
    report = audit_clips([full, half, tiny], AudioConfig(num_samples=16000))
    assert [b.path for b in report.bad] == [str(tiny)] and "too short" in report.bad[0].problem
    assert len(report.warnings) == 1 and "1 clip(s)" in report.warnings[0] and str(half) in report.warnings[0]
    report = audit_clips([full, half], AudioConfig(num_samples=32000))
    assert len(report.warnings) == 1 and "longer than every clip" in report.warnings[0]
    assert "--num-samples 16000" in report.warnings[0]
    assert audit_clips([full], AudioConfig(num_samples=16000)).warnings == []


def test_truncated_wav_is_detected_from_its_header(tmp_path, make_wav):
    from asd_tf.data.audit import wav_truncation
    from asd_tf.data.pipeline import is_fast_wav

    path = make_wav(tmp_path / "a.wav", np.zeros(1000))
    assert wav_truncation(str(path)) is None and is_fast_wav(path, 16000)
    path.write_bytes(path.read_bytes()[:1044])  # 44-byte header + 1000 of 2000 data bytes
    assert wav_truncation(str(path)) == "truncated: the WAV header declares 2000 bytes of audio, the file holds 1000"
    assert not is_fast_wav(path, 16000)  # never handed to decode_wav


# ---------------------------------------------------------------------------
# One writer per run directory; corrupt files

def test_second_writer_is_refused_naming_the_first(tiny_data, tmp_path):
    from conftest import train_tiny_run

    from asd_tf.errors import RunError
    from asd_tf.runs import run_lock

    run_dir = tmp_path / "run"
    with run_lock(run_dir):  # as if another `asd-tf train` were running into run_dir
        with pytest.raises(RunError) as info:
            train_tiny_run(tiny_data, run_dir, **RESUME_RUN)
        assert str(run_dir) in str(info.value) and f"pid {os.getpid()}" in str(info.value)
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]  # the second wrote nothing
    with run_lock(run_dir):  # released with its holder
        pass


def test_corrupt_model_file_is_named_and_recovered_without_retraining(
    tiny_data, tmp_path, reference_run, monkeypatch, capfd
):
    import shutil

    from conftest import train_tiny_run

    from asd_tf.errors import RunError
    from asd_tf.runs import Run

    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    model = run_dir / "model.keras"
    model.write_bytes(model.read_bytes()[:5000])
    with pytest.raises(RunError) as info:
        Run.open(run_dir).members()[0].load_model()
    message = str(info.value)
    assert str(model) in message and "corrupt" in message and ".complete" in message
    # The recovery the message gives: delete model.keras and .complete, rerun the command
    # (here from another working directory, with relative paths).
    model.unlink()
    (run_dir / ".complete").unlink()
    monkeypatch.chdir(tmp_path)
    train_tiny_run(os.path.relpath(tiny_data), Path("run"), **RESUME_RUN)
    assert json.loads((run_dir / "train_summary.json").read_text())["epochs_run_this_call"] == 0
    expected, got = _model_weights(reference_run), _model_weights(run_dir)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    import yaml

    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["data"] == str(tiny_data.resolve()) and saved["out"] == str(run_dir.resolve())


def test_truncated_embeddings_cache_is_recomputed(reference_run, tiny_data, tmp_path, capfd):
    from asd_tf.data.audio import AudioConfig
    from asd_tf.data.index import scan_dataset
    from asd_tf.scoring.embeddings import cached_embeddings
    from asd_tf.runs import Run

    member = Run.open(reference_run).members()[0]
    model = member.load_model()
    clips = scan_dataset(tiny_data).clips[:3]
    audio = AudioConfig(num_samples=TINY_SAMPLES)
    first = cached_embeddings(model, member.model_path, clips, audio, tmp_path, progress=False)
    (cache,) = tmp_path.glob("*.npy")
    cache.write_bytes(cache.read_bytes()[:100])
    capfd.readouterr()
    again = cached_embeddings(model, member.model_path, clips, audio, tmp_path, progress=False)
    assert str(cache) in capfd.readouterr().err
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(np.load(cache), first)  # rewritten whole


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode):
    from asd_tf.io_utils import atomic_write_json

    old = os.umask(umask)
    try:
        path = atomic_write_json(tmp_path / "results.json", {"auc": 0.5})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert json.loads(path.read_text()) == {"auc": 0.5}


@pytest.mark.parametrize("cached", [False, True])
def test_each_epochs_data_order_depends_on_seed_and_epoch_only(tmp_path, make_wav, cached):
    import tensorflow as tf

    from asd_tf.data.audio import AudioConfig
    from asd_tf.data.pipeline import make_dataset
    from asd_tf.data.records import ClipRecord

    clips = []
    for i in range(10):
        path = make_wav(tmp_path / "fan" / "train" / f"section_00_source_train_normal_{i:04d}_a_1.wav",
                        np.full(400, i / 20.0))
        clips.append(ClipRecord(path=str(path), dataset="dcase2022", machine="fan", section="00", domain="source",
                                split="train", label="normal", attributes="a_1", attribute_pairs=(("a", "1"),)))
    audio = AudioConfig(num_samples=400)
    cache = str(tmp_path / "cache") if cached else None

    def order(first: int, end: int) -> list[list[int]]:
        ds = make_dataset(clips, audio, labels=np.arange(10), batch_size=4, shuffle=True, seed=3,
                          drop_remainder=True, epochs=(first, end), cache_dir=cache)
        labels = np.concatenate([y.numpy() for _, y in ds])
        return [labels[i:i + 8].tolist() for i in range(0, len(labels), 8)]

    tf.random.set_seed(5)  # as training sets it
    full = order(0, 3)
    assert len(full) == 3 and all(len(set(e)) == 8 for e in full)  # 2 batches of 4 distinct clips per epoch
    assert full[0] != full[1] != full[2]  # reshuffled every epoch
    assert order(1, 3) == full[1:] and order(2, 3) == full[2:]  # a resumed epoch sees the same order
    if not cached:  # a full permutation drawn from default_rng([seed, epoch]), first steps * B kept
        assert full == [np.random.default_rng([3, e]).permutation(10)[:8].tolist() for e in range(3)]
