"""`asd-tf check-data`: counts and audio facts of a small hand-made set, and every kind of inconsistency.

The clean set is written with soundfile (1-s clips); its expected counts,
rates and durations are written out by hand. Each broken variant adds one
known problem and the report must name the file, with the expected severity
and exit status.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from asd_tf import commands
from asd_tf.registry import Registry
from asd_tf.data.check import ERROR, WARNING, check_dataset, format_report, read_header, wav_truncation
from asd_tf.errors import DatasetError

SR = 16000


@pytest.fixture
def run_cli(monkeypatch):
    monkeypatch.setattr(commands, "COMMANDS", Registry("command", {"check-data": "asd_tf.commands.check_data"}))
    return commands.main


def tone(seconds: float = 1.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.1 * np.sin(2 * np.pi * 440 * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.fixture
def clean(tmp_path: Path, make_wav) -> Path:
    """DCASE 2023-style set: fan (4 train source, 2 train target, 8 test) and valve (same)."""
    root = tmp_path / "dcase2023_dev"
    for machine, attr in (("fan", "m-n_W"), ("valve", "pat_00")):
        rows = ["file_name,d1p,d1v"]
        names = [f"train/section_00_source_train_normal_{i:04d}_{attr}.wav" for i in range(4)]
        names += [f"train/section_00_target_train_normal_{i:04d}_{attr}.wav" for i in range(2)]
        names += [f"test/section_00_{d}_test_{lab}_{i:04d}_{attr}.wav"
                  for d in ("source", "target") for lab in ("normal", "anomaly") for i in range(2)]
        for name in names:
            make_wav(root / machine / name, tone())
            key, value = attr.split("_")
            rows.append(f"{machine}/{name},{key},{value}")
        (root / machine / "attributes_00.csv").write_text("\n".join(rows) + "\n")
    return root


def finding(report, problem: str):
    hits = [f for f in report.findings if f.problem == problem]
    assert len(hits) == 1, [f.problem for f in report.findings]
    return hits[0]


def test_clean_set_report(clean: Path, run_cli, capsys) -> None:
    report = check_dataset(clean)
    assert report.findings == []
    assert (report.dataset, report.machines, report.n_clips) == ("dcase2023", ["fan", "valve"], 28)
    assert report.sections == {"fan": ["00"], "valve": ["00"]}
    counts = {row[1:6]: row[6] for row in report.counts}
    assert counts[("fan", "00", "source", "train", "normal")] == 4
    assert counts[("fan", "00", "target", "train", "normal")] == 2
    assert counts[("valve", "00", "target", "test", "anomaly")] == 2
    assert sum(counts.values()) == 28
    assert report.sample_rates == {16000: 28} and report.channels == {1: 28} and report.subtypes == {"PCM_16": 28}
    assert report.durations == {"fan": (1.0, 1.0, 1.0), "valve": (1.0, 1.0, 1.0)}
    assert report.attribute_files == {"fan/attributes_00.csv": 14, "valve/attributes_00.csv": 14}
    assert run_cli(["check-data", str(clean)]) == 0
    out = capsys.readouterr().out
    assert "result: OK (0 warning(s))" in out and "16000 Hz (28)" in out
    assert run_cli(["check-data", str(clean), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert (obj["n_clips"], obj["n_errors"], obj["n_warnings"]) == (28, 0, 0)


def test_broken_audio_is_an_error(clean: Path, run_cli, capsys) -> None:
    fan = clean / "fan"
    # truncated: cut the second half of a valid file (header still declares the full data chunk)
    cut = fan / "train/section_00_source_train_normal_0001_m-n_W.wav"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    text = fan / "train/section_00_source_train_normal_0002_m-n_W.wav"
    text.write_text("not audio\n")
    empty = fan / "train/section_00_source_train_normal_0003_m-n_W.wav"
    empty.write_bytes(b"")
    report = check_dataset(clean)
    trunc = finding(report, "truncated")
    assert trunc.severity == ERROR and str(cut) in trunc.detail
    assert f"declares {len(data) - 44} bytes of audio, the file holds {len(data) // 2 - 44}" in trunc.detail
    unreadable = finding(report, "unreadable audio header")
    assert unreadable.severity == ERROR and str(text) in unreadable.detail and str(empty) in unreadable.detail
    assert run_cli(["check-data", str(clean)]) == 1
    assert "a run on this data would fail or be wrong" in capsys.readouterr().out


def test_audio_format_differences_are_warnings(clean: Path, make_wav, run_cli) -> None:
    valve = clean / "valve/train"
    odd_rate = make_wav(valve / "section_00_source_train_normal_0001_pat_00.wav", tone(1.0, 8000), sr=8000)
    stereo = make_wav(valve / "section_00_source_train_normal_0002_pat_00.wav", tone(channels=2))
    long = make_wav(valve / "section_00_source_train_normal_0003_pat_00.wav", tone(2.0))
    short = make_wav(clean / "fan/train/section_00_source_train_normal_0003_m-n_W.wav", tone(0.3))
    report = check_dataset(clean)
    assert report.errors == []
    rates = finding(report, "mixed sample rates")
    assert rates.severity == WARNING and str(odd_rate) in rates.detail and "{8000: 1, 16000: 27}" in rates.detail
    assert str(stereo) in finding(report, "several channels").detail
    durations = finding(report, "unusual durations")
    assert f"{long} (2.00 s, usual 1.00 s)" in durations.detail and f"{short} (0.30 s, usual 1.00 s)" in durations.detail
    assert finding(report, "very short clips").detail == f"1 clip(s) under 1 s: {short} (0.30 s)"
    assert report.sample_rates == {8000: 1, 16000: 27}
    assert run_cli(["check-data", str(clean)]) == 0
    assert run_cli(["check-data", str(clean), "--strict"]) == 1


def test_names_duplicates_and_structure(clean: Path, make_wav) -> None:
    bad_name = make_wav(clean / "fan/train/recording_7.wav", tone())
    no_domain = make_wav(clean / "fan/train/section_00_train_normal_0009_m-n_W.wav", tone())
    train_anomaly = make_wav(clean / "fan/train/section_00_source_train_anomaly_0000_m-n_W.wav", tone())
    # the same fan clip in a second copy of the machine folder
    dup = make_wav(clean / "copy/fan/train/section_00_source_train_normal_0000_m-n_W.wav", tone())
    # a machine with test clips only
    make_wav(clean / "pump/test/section_00_source_test_normal_0000_noAttribute.wav", tone())
    stray = clean / "fan/test/notes.txt"
    stray.write_text("x")
    (clean / "fan/test/section_00_source_test_normal_0000_m-n_W.anomaly.csv").write_text("sidecar")  # not stray
    report = check_dataset(clean)
    names = [f for f in report.findings if f.problem == "bad file name"]
    assert all(f.severity == ERROR for f in names) and len(names) == 2  # one finding per kind of problem
    assert any(str(bad_name) in f.detail and "unknown file-name pattern" in f.detail for f in names)
    assert any(str(no_domain) in f.detail and "no domain" in f.detail for f in names)
    assert str(train_anomaly) in finding(report, "anomalous clips in a training folder").detail
    assert str(dup) in finding(report, "duplicate clip names").detail
    assert "pump section 00: 1 test clip(s) but no training clip" in \
        finding(report, "test clips without training clips").detail
    assert finding(report, "AUC undefined").detail.startswith("pump section 00: test clips are all normal")
    assert str(stray) in finding(report, "other files in train/test folders").detail
    assert "sidecar" not in json.dumps(report.to_json())


def test_attribute_table_rows(clean: Path, make_wav) -> None:
    extra = make_wav(clean / "fan/train/section_00_source_train_normal_0007_m-n_W.wav", tone())
    (clean / "valve/attributes_00.csv").unlink()
    with open(clean / "fan/attributes_00.csv", "a") as fh:
        fh.write("fan/train/section_00_source_train_normal_0099_m-n_W.wav,m-n,W\n")
    report = check_dataset(clean)
    assert report.errors == []
    assert "fan/train/section_00_source_train_normal_0007_m-n_W.wav" in \
        finding(report, "clips without an attribute-table row").detail and extra.exists()
    assert "fan/attributes_00.csv: fan/train/section_00_source_train_normal_0099_m-n_W.wav" in \
        finding(report, "attribute-table rows without a clip").detail
    assert "valve/attributes_00.csv" in finding(report, "missing attribute tables").detail


def test_ground_truth_mismatch_is_reported(tmp_path: Path, make_wav, run_cli, capsys) -> None:
    root = tmp_path / "eval"
    make_wav(root / "fan/train/section_00_source_train_normal_0000_m-n_W.wav", tone())
    make_wav(root / "fan/train/section_00_target_train_normal_0000_m-n_W.wav", tone())
    for i in range(3):
        make_wav(root / f"fan/test/section_00_{i:04d}.wav", tone())
    gt = root / "ground_truth_data/ground_truth_fan_section_00_test.csv"
    gt.parent.mkdir()
    gt.write_text("section_00_0000.wav,1\nsection_00_0001.wav,0\nsection_00_0001.wav,0\nsection_00_0005.wav,1\n")
    dom = root / "ground_truth_domain/ground_truth_fan_section_00_test.csv"
    dom.parent.mkdir()
    dom.write_text("section_00_0000.wav,0\nsection_00_0001.wav,0\nsection_00_0002.wav,1\n")
    report = check_dataset(root)
    details = [f.detail for f in report.errors if f.problem == "ground truth does not match the clips"]
    assert f"{gt}: 'section_00_0001.wav' on lines 2 and 3" in details
    assert f"{gt}: 1 row(s) without a test clip in fan/test: section_00_0005.wav" in details
    assert any(d.startswith(f"1 test clip(s) of fan section 00 without a row in {gt}") and
               str(root / "fan/test/section_00_0002.wav") in d for d in details)
    assert run_cli(["check-data", str(root)]) == 1
    assert "section_00_0005.wav" in capsys.readouterr().out


def test_supplemental_listed(clean: Path, make_wav) -> None:
    make_wav(clean / "fan/supplemental/section_00_machine_0001_.wav", tone())
    (clean / "fan/supplemental/section_00_noise_0001_.wav").write_text("broken")
    report = check_dataset(clean)
    assert report.supplemental == ["fan: 2 supplemental clip(s) (machine 1, noise 1); not training data"]
    assert finding(report, "unreadable supplemental clips").severity == WARNING
    assert report.errors == [] and report.n_clips == 28
    assert "supplemental: fan: 2 supplemental clip(s)" in format_report(report)


def test_wav_truncation_reads_chunk_sizes(tmp_path: Path, make_wav) -> None:
    path = make_wav(tmp_path / "a.wav", tone(0.01))  # 160 frames, 320 data bytes
    assert wav_truncation(path) is None and read_header(path).frames == 160
    raw = path.read_bytes()
    # an odd-sized extra chunk before "data" is skipped with its pad byte
    fmt_end = 12 + 8 + struct.unpack("<I", raw[16:20])[0]
    padded = raw[:fmt_end] + b"LIST" + struct.pack("<I", 3) + b"abc\0" + raw[fmt_end:]
    (tmp_path / "b.wav").write_bytes(padded[:-10])
    assert wav_truncation(tmp_path / "b.wav") == "truncated: the WAV header declares 320 bytes of audio, the file holds 310"
    assert wav_truncation(tmp_path / "c.txt") is None  # missing or not RIFF: left to soundfile


def test_no_dataset_exits_2(tmp_path: Path, run_cli) -> None:
    with pytest.raises(DatasetError):
        check_dataset(tmp_path / "missing")
    assert run_cli(["check-data", str(tmp_path / "missing")]) == 2
