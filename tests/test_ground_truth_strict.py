"""Ground truth given to the index (and so to `evaluate`) must match the test clips exactly.

Each case is a hand-made folder of empty clip files (the index reads names
only) and hand-written ground-truth CSVs; the expected error names the files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from asd_tf import commands
from asd_tf.registry import Registry
from asd_tf.data.ground_truth import load_ground_truth, read_ground_truth
from asd_tf.data.index import scan_dataset
from asd_tf.errors import LabelError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


LABELS = "section_00_0000.wav,1\nsection_00_0001.wav,0\nsection_00_0002.wav,0\n"
DOMAINS = "section_00_0000.wav,0\nsection_00_0001.wav,1\nsection_00_0002.wav,0\n"


@pytest.fixture
def eval_set(tmp_path: Path) -> tuple[Path, Path]:
    """``(data root, ground-truth folder)``: fan with 3 anonymised test clips, both CSVs complete."""
    root = tmp_path / "eval"
    touch(root / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    touch(root / "fan/train/section_00_target_train_normal_0000_m-n_X.wav")
    for i in range(3):
        touch(root / f"fan/test/section_00_{i:04d}.wav")
    gt = tmp_path / "gt"
    write(gt / "ground_truth_data/ground_truth_fan_section_00_test.csv", LABELS)
    write(gt / "ground_truth_domain/ground_truth_fan_section_00_test.csv", DOMAINS)
    return root, gt


def test_matching_ground_truth_labels_every_clip(eval_set) -> None:
    root, gt = eval_set
    index = scan_dataset(root, ground_truth_dir=gt)
    assert [(c.name, c.label, c.domain) for c in index.select(split="test")] == [
        ("section_00_0000.wav", "anomaly", "source"),
        ("section_00_0001.wav", "normal", "target"),
        ("section_00_0002.wav", "normal", "source"),
    ]
    assert index.ground_truth == str(gt) and index.ground_truth_problems == []


def test_deleted_test_clip_is_an_error(eval_set) -> None:
    root, gt = eval_set
    (root / "fan/test/section_00_0001.wav").unlink()
    with pytest.raises(LabelError) as info:
        scan_dataset(root, ground_truth_dir=gt)
    msg = str(info.value)
    # both CSVs name the missing clip
    for sub in ("ground_truth_data", "ground_truth_domain"):
        assert f"{gt / sub / 'ground_truth_fan_section_00_test.csv'}: 1 row(s) without a test clip in fan/test: " \
               "section_00_0001.wav" in msg
    # not strict: the same problems are listed, nothing raised
    index = scan_dataset(root, ground_truth_dir=gt, strict_ground_truth=False)
    assert len(index.ground_truth_problems) == 2 and len(index.select(split="test")) == 2


def test_clip_without_a_row_is_an_error(eval_set) -> None:
    root, gt = eval_set
    extra = touch(root / "fan/test/section_00_0003.wav")
    with pytest.raises(LabelError) as info:
        scan_dataset(root, ground_truth_dir=gt)
    msg = str(info.value)
    assert f"1 test clip(s) of fan section 00 without a row in {gt / 'ground_truth_data'}" in msg
    assert str(extra) in msg
    assert "2 problem(s)" in msg  # missing in the label CSV and in the domain CSV


def test_duplicate_rows_are_an_error(eval_set) -> None:
    root, gt = eval_set
    csv = write(gt / "ground_truth_data/ground_truth_fan_section_00_test.csv", LABELS + "section_00_0001.wav,0\n")
    with pytest.raises(LabelError, match=re.escape(f"{csv}: 'section_00_0001.wav' on lines 2 and 4")):
        scan_dataset(root, ground_truth_dir=gt)
    with pytest.raises(LabelError, match="lists a file twice"):
        load_ground_truth(gt)
    assert read_ground_truth(gt).duplicates == [f"{csv}: 'section_00_0001.wav' on lines 2 and 4"]


def test_section_without_csv_and_missing_domain_csv(eval_set, tmp_path: Path) -> None:
    root, gt = eval_set
    # a second machine whose anonymised clips no CSV covers
    touch(root / "pump/train/section_00_source_train_normal_0000_noAttribute.wav")
    clip = touch(root / "pump/test/section_00_0000.wav")
    with pytest.raises(LabelError) as info:
        scan_dataset(root, ground_truth_dir=gt)
    assert "1 test clip(s) of pump section 00 have no label (no ground_truth_pump_section_00_test.csv in" in \
        str(info.value) and str(clip) in str(info.value)
    clip.unlink()
    # labels without domains: a labelled clip without a domain is refused
    (gt / "ground_truth_domain/ground_truth_fan_section_00_test.csv").unlink()
    with pytest.raises(LabelError, match="3 labelled test clip\\(s\\) of fan section 00 have no domain"):
        scan_dataset(root, ground_truth_dir=gt)


def test_csvs_of_absent_machines_are_a_note(eval_set) -> None:
    root, gt = eval_set
    # the official folder holds every machine; evaluating one machine is allowed
    write(gt / "ground_truth_data/ground_truth_valve_section_00_test.csv", "section_00_0000.wav,1\n")
    write(gt / "ground_truth_domain/ground_truth_valve_section_00_test.csv", "section_00_0000.wav,0\n")
    index = scan_dataset(root, ground_truth_dir=gt)
    assert index.ground_truth_problems == []
    assert index.notes == [
        "ground-truth label CSVs of valve section 00 match no test clips here (not used)",
        "ground-truth domain CSVs of valve section 00 match no test clips here (not used)",
    ]


def test_renamed_test_folder_uses_ground_truth_attributes(tmp_path: Path) -> None:
    """Test clips renamed to full names (the baseline's rename step) match the anonymised rows
    through ``ground_truth_attributes`` (``anonymised.wav,full name without .wav``)."""
    root = tmp_path / "eval"
    touch(root / "RoboticArm/train/section_00_source_train_normal_0001_weight15_BckgF.wav")
    touch(root / "RoboticArm/test/section_00_source_normal_0035_weight15_BckgF.wav")
    touch(root / "RoboticArm/test/section_00_target_anomaly_0059_weight25_BckgE.wav")
    gt = tmp_path / "gt"
    name = "ground_truth_RoboticArm_section_00_test.csv"
    write(gt / "ground_truth_data" / name, "section_00_0000.wav,0\nsection_00_0003.wav,1\n")
    write(gt / "ground_truth_domain" / name, "section_00_0000.wav,0\nsection_00_0003.wav,1\n")
    write(gt / "ground_truth_attributes" / name,
          "section_00_0000.wav,section_00_source_normal_0035_weight15_BckgF\n"
          "section_00_0003.wav,section_00_target_anomaly_0059_weight25_BckgE\n")
    index = scan_dataset(root, ground_truth_dir=gt)
    assert [(c.label, c.domain) for c in index.select(split="test")] == [("normal", "source"), ("anomaly", "target")]
    # a ground truth that contradicts the renamed name is refused, naming the clip
    write(gt / "ground_truth_data" / name, "section_00_0000.wav,1\nsection_00_0003.wav,1\n")
    with pytest.raises(LabelError, match="section_00_source_normal_0035_weight15_BckgF.wav: file name says 'normal'"):
        scan_dataset(root, ground_truth_dir=gt)


def test_index_cli_exits_2_naming_the_files(eval_set, capsys, monkeypatch) -> None:
    monkeypatch.setattr(commands, "COMMANDS", Registry("command", {"index": "asd_tf.commands.index"}))
    root, gt = eval_set
    (root / "fan/test/section_00_0002.wav").unlink()
    assert commands.main(["index", str(root), "--ground-truth", str(gt)]) == 2
    err = capsys.readouterr().err
    assert "asd-tf index: error: ground truth in" in err and "section_00_0002.wav" in err
    # ground truth found beside the data (the synthetic eval split's layout) is checked the same way
    (gt / "ground_truth_data").rename(root / "ground_truth_data")
    (gt / "ground_truth_domain").rename(root / "ground_truth_domain")
    assert commands.main(["index", str(root)]) == 2
