"""Dataset indexing: the 108 real DCASE clips against PROVENANCE.md, and built layouts.

The reference for the real clips is the per-file table of PROVENANCE.md
(parsed here independently of the file-name parser) plus the 2023 attributes
written out by hand.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from asd_tf import commands
from asd_tf.registry import Registry
from asd_tf.data.ground_truth import load_ground_truth
from asd_tf.data.index import scan_dataset
from asd_tf.errors import ConfigError, DatasetError, FileNameError, LabelError

# Hand-written attributes of the 28 DCASE 2023 clips (file name -> pairs).
ATTRS_2023 = {
    "section_00_source_test_normal_0028_car_C2_spd_34V_mic_1.wav": (("car", "C2"), ("spd", "34V"), ("mic", "1")),
    "section_00_source_test_normal_0029_car_C2_spd_34V_mic_1.wav": (("car", "C2"), ("spd", "34V"), ("mic", "1")),
    "section_00_source_train_normal_0362_car_C2_spd_31V_mic_1.wav": (("car", "C2"), ("spd", "31V"), ("mic", "1")),
    "section_00_source_train_normal_0835_car_D2_spd_34V_mic_1.wav": (("car", "D2"), ("spd", "34V"), ("mic", "1")),
    "section_00_target_test_anomaly_0015_car_A2_spd_6_mic_2.wav": (("car", "A2"), ("spd", "6"), ("mic", "2")),
    "section_00_target_test_normal_0049_car_E2_spd_9_mic_2.wav": (("car", "E2"), ("spd", "9"), ("mic", "2")),
    "section_00_source_train_normal_0385_car_C2_spd_7_mic_1.wav": (("car", "C2"), ("spd", "7"), ("mic", "1")),
    "section_00_source_train_normal_0977_car_D2_spd_10_mic_1.wav": (("car", "D2"), ("spd", "10"), ("mic", "1")),
    "section_00_source_test_normal_0022_vel_9_loc_A.wav": (("vel", "9"), ("loc", "A")),
    "section_00_target_test_anomaly_0021_vel_8_loc_G.wav": (("vel", "8"), ("loc", "G")),
    "section_00_source_train_normal_0046_vel_21_loc_A.wav": (("vel", "21"), ("loc", "A")),
    "section_00_source_train_normal_0742_vel_16_loc_A.wav": (("vel", "16"), ("loc", "A")),
    "section_00_source_test_anomaly_0022_m-n_W.wav": (("m-n", "W"),),
    "section_00_target_test_normal_0021_m-n_Y.wav": (("m-n", "Y"),),
    "section_00_source_train_normal_0040_m-n_X.wav": (("m-n", "X"),),
    "section_00_source_train_normal_0397_m-n_X.wav": (("m-n", "X"),),
    "section_00_source_test_normal_0026_volt_1.5_wt_150.wav": (("volt", "1.5"), ("wt", "150")),
    "section_00_target_test_anomaly_0040_volt_1.5_wt_130.wav": (("volt", "1.5"), ("wt", "130")),
    "section_00_source_train_normal_0073_volt_1.5_wt_0.wav": (("volt", "1.5"), ("wt", "0")),
    "section_00_source_train_normal_0616_volt_1.5_wt_50.wav": (("volt", "1.5"), ("wt", "50")),
    "section_00_source_test_normal_0027_vel_730_ac_0.11.wav": (("vel", "730"), ("ac", "0.11")),
    "section_00_target_test_normal_0013_vel_620_ac_0.08.wav": (("vel", "620"), ("ac", "0.08")),
    "section_00_source_train_normal_0853_vel_500_ac_0.30.wav": (("vel", "500"), ("ac", "0.30")),
    "section_00_source_train_normal_0959_vel_490_ac_0.05.wav": (("vel", "490"), ("ac", "0.05")),
    "section_00_target_test_anomaly_0044_pat_03.wav": (("pat", "03"),),
    "section_00_target_test_normal_0044_pat_03.wav": (("pat", "03"),),
    "section_00_source_train_normal_0095_pat_01.wav": (("pat", "01"),),
    "section_00_source_train_normal_0206_pat_01.wav": (("pat", "01"),),
}


def provenance_rows(real_dir: Path) -> list[dict]:
    """Expected fields of every clip from the PROVENANCE.md per-file table."""
    text = (real_dir / "PROVENANCE.md").read_text(encoding="utf-8")
    table = text.split("## Per-file table", 1)[1]
    rows = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        local, label, split, domain, sec = cells[0].strip("`"), cells[1], cells[2], cells[3], cells[4]
        parts = local.split("/")
        dataset_folder, machine, folder_split, name = parts[0], parts[1], parts[2], parts[-1]
        # "unknown (train or test)": the clip was placed by judgement; the folder is the split.
        expected_split = split if split in ("train", "test") else folder_split
        rows.append(
            {
                "rel": local,
                "dataset": re.match(r"(dcase20\d\d)", dataset_folder).group(1),
                "machine": machine,
                "section": sec[3:] if sec.startswith("id_") else sec,
                "domain": "source" if domain == "-" else domain,
                "split": expected_split,
                "label": label,
                "attributes": "_".join(f"{k}_{v}" for k, v in ATTRS_2023.get(name, ())),
                "pairs": ATTRS_2023.get(name, ()),
                "bytes": int(cells[9]),
            }
        )
    return rows


def test_provenance_table_complete(real_data_dir: Path) -> None:
    rows = provenance_rows(real_data_dir)
    assert len(rows) == 108
    assert sum(r["dataset"] == "dcase2023" for r in rows) == 28 == len(ATTRS_2023)


def test_all_real_clips_index_correctly(real_data_dir: Path) -> None:
    index = scan_dataset(real_data_dir)
    assert index.dataset == "mixed"
    assert index.skipped == []
    got = {os.path.relpath(c.path, real_data_dir): c for c in index.clips}
    rows = provenance_rows(real_data_dir)
    assert set(got) == {r["rel"] for r in rows}
    for r in rows:
        c = got[r["rel"]]
        assert (c.dataset, c.machine, c.section, c.domain, c.split, c.label) == (
            r["dataset"], r["machine"], r["section"], r["domain"], r["split"], r["label"]
        ), r["rel"]
        assert c.attribute_pairs == r["pairs"], r["rel"]
        assert c.attributes == r["attributes"], r["rel"]
        assert os.path.isabs(c.path) and os.path.getsize(c.path) == r["bytes"]
    assert [c.path for c in index.clips] == sorted(c.path for c in index.clips)


@pytest.mark.parametrize("folder, dataset, n", [
    ("dcase2020_task2_dev", "dcase2020", 79),
    ("dcase2021_task2_dev", "dcase2021", 1),
    ("dcase2023_task2_dev", "dcase2023", 28),
])
def test_each_real_dataset_folder(real_data_dir: Path, folder: str, dataset: str, n: int) -> None:
    index = scan_dataset(real_data_dir / folder)
    assert (index.dataset, len(index.clips)) == (dataset, n)
    assert index.select(split="train", label="anomaly") == []


def test_dataset_argument_overrides_folder_name(real_data_dir: Path) -> None:
    # section_XX names are ambiguous between 2021-2023; the argument wins over the folder name
    index = scan_dataset(real_data_dir / "dcase2023_task2_dev", dataset="dcase2022")
    assert {c.dataset for c in index.clips} == {"dcase2022"}
    with pytest.raises(FileNameError):
        scan_dataset(real_data_dir / "dcase2023_task2_dev", dataset="dcase2020")
    with pytest.raises(ConfigError):
        scan_dataset(real_data_dir / "dcase2023_task2_dev", dataset="dcase1999")


def test_select_and_fingerprint(real_data_dir: Path) -> None:
    index = scan_dataset(real_data_dir / "dcase2023_task2_dev")
    rows = [r for r in provenance_rows(real_data_dir) if r["dataset"] == "dcase2023"]
    expected = sorted(r["rel"] for r in rows if r["split"] == "test" and r["domain"] == "target")
    got = sorted(os.path.relpath(c.path, real_data_dir) for c in index.select(split="test", domain="target"))
    assert got == expected
    fp = index.fingerprint()
    assert fp == scan_dataset(real_data_dir / "dcase2023_task2_dev").fingerprint()
    assert fp != index.fingerprint("other")
    assert fp != scan_dataset(real_data_dir / "dcase2021_task2_dev").fingerprint()


def test_cli_json_lists_2023_clips(real_data_dir: Path, capsys, index_only_cli) -> None:
    rc = index_only_cli(["index", str(real_data_dir / "dcase2023_task2_dev"), "--json"])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 28
    expected = {r["rel"]: r for r in provenance_rows(real_data_dir) if r["dataset"] == "dcase2023"}
    for line in lines:
        obj = json.loads(line)
        assert set(obj) == {"path", "dataset", "machine", "section", "domain", "split", "label", "attributes"}
        r = expected.pop(os.path.relpath(obj["path"], real_data_dir))
        assert obj["dataset"] == "dcase2023"
        assert [obj[k] for k in ("machine", "section", "domain", "split", "label")] == [
            r["machine"], r["section"], r["domain"], r["split"], r["label"]
        ]
        assert obj["attributes"] == dict(r["pairs"])
    assert expected == {}


def test_cli_table_counts(real_data_dir: Path, capsys, index_only_cli) -> None:
    assert index_only_cli(["index", str(real_data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["dataset", "machine", "section", "domain", "split", "label", "clips"]
    got = {tuple(line.split()[:6]): int(line.split()[6]) for line in out[1:] if len(line.split()) == 7}
    want = Counter(
        (r["dataset"], r["machine"], r["section"], r["domain"], r["split"], r["label"])
        for r in provenance_rows(real_data_dir)
    )
    assert got == dict(want)
    # columns aligned: every count ends in the same column
    ends = {len(line) for line in out[: len(got) + 1]}
    assert len(ends) == 1


# --------------------------------------------------------------------------- built layouts


@pytest.fixture
def index_only_cli(monkeypatch):
    """commands.main with only the ``index`` command registered (other commands belong to other modules)."""
    monkeypatch.setattr(commands, "COMMANDS", Registry("command", {"index": "asd_tf.commands.index"}))
    return commands.main


from conftest import touch_wav as touch  # noqa: E402  (a 2-sample WAV: index checks audio)


def test_dev_eval_subfolders_and_ground_truth(tmp_path: Path) -> None:
    root = tmp_path / "dcase2022_task2"
    touch(root / "dev_data/fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    touch(root / "dev_data/fan/test/section_01_target_test_anomaly_0001_m-n_X.wav")
    touch(root / "dev_data/fan/attributes_00.csv")
    touch(root / "eval_data/fan/train/section_03_target_train_normal_0000_noAttribute.wav")
    for i in range(3):
        touch(root / f"eval_data/fan/test/section_03_{i:04d}.wav")
    touch(root / "eval_data/fan/test/readme.txt")
    # without ground truth: unknown label and domain
    index = scan_dataset(root)
    anon = index.select(section="03", split="test")
    assert [(c.label, c.domain) for c in anon] == [("unknown", "unknown")] * 3
    assert index.dataset == "dcase2022" and len(index.clips) == 6
    # ground truth beside the data, found automatically
    (root / "ground_truth_data").mkdir()
    (root / "ground_truth_domain").mkdir()
    (root / "ground_truth_data/ground_truth_fan_section_03_test.csv").write_text(
        "section_03_0000.wav,1\nsection_03_0001.wav,0\nsection_03_0002.wav,1\n"
    )
    (root / "ground_truth_domain/ground_truth_fan_section_03_test.csv").write_text(
        "section_03_0000.wav,0\nsection_03_0001.wav,1\nsection_03_0002.wav,1\n"
    )
    index = scan_dataset(root)
    anon = index.select(section="03", split="test")
    assert [(os.path.basename(c.path), c.label, c.domain) for c in anon] == [
        ("section_03_0000.wav", "anomaly", "source"),
        ("section_03_0001.wav", "normal", "target"),
        ("section_03_0002.wav", "anomaly", "target"),
    ]
    # explicit ground_truth_dir elsewhere
    gt = tmp_path / "gt"
    gt.mkdir()
    (root / "ground_truth_data").rename(gt / "ground_truth_data")
    (root / "ground_truth_domain").rename(gt / "ground_truth_domain")
    assert scan_dataset(root).select(section="03", split="test")[0].label == "unknown"
    assert scan_dataset(root, ground_truth_dir=gt).select(section="03", split="test")[0].label == "anomaly"
    labels, domains = load_ground_truth(gt)
    assert labels[("fan", "03", "section_03_0001.wav")] == "normal"
    assert domains[("fan", "03", "section_03_0001.wav")] == "target"


def test_ground_truth_conflict_and_bad_csv(tmp_path: Path) -> None:
    root = tmp_path / "data"
    touch(root / "fan/test/section_00_source_test_normal_0000_m-n_W.wav")
    gt = tmp_path / "gt"
    (gt / "ground_truth_data").mkdir(parents=True)
    csv = gt / "ground_truth_data/ground_truth_fan_section_00_test.csv"
    csv.write_text("section_00_source_test_normal_0000_m-n_W.wav,1\n")
    with pytest.raises(LabelError, match="section_00_source_test_normal_0000"):
        scan_dataset(root, ground_truth_dir=gt)
    csv.write_text("section_00_source_test_normal_0000_m-n_W.wav,yes\n")
    with pytest.raises(DatasetError, match="ground_truth_fan_section_00_test.csv"):
        scan_dataset(root, ground_truth_dir=gt)
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(root, ground_truth_dir=tmp_path / "nope")


def test_year_inference_from_sections(tmp_path: Path) -> None:
    one = tmp_path / "a"
    touch(one / "ToyCar/train/section_00_source_train_normal_0000_car_A1.wav")
    touch(one / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    assert scan_dataset(one).dataset == "dcase2023"
    many = tmp_path / "b"
    touch(many / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    touch(many / "fan/train/section_01_source_train_normal_0000_m-n_W.wav")
    assert scan_dataset(many).dataset == "dcase2022"
    hinted = tmp_path / "my_DCASE2021_copy"
    touch(hinted / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    assert scan_dataset(hinted).dataset == "dcase2021"
    # the root can be a machine folder itself
    index = scan_dataset(hinted / "fan")
    assert [c.machine for c in index.clips] == ["fan"]


def test_dataset_errors_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "missing"))):
        scan_dataset(tmp_path / "missing")
    empty = tmp_path / "empty"
    (empty / "fan" / "other").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no dataset found") as info:
        scan_dataset(empty)
    assert str(empty) in str(info.value)
    nowav = tmp_path / "nowav"
    touch(nowav / "fan/train/attributes_00.csv")
    with pytest.raises(DatasetError, match="no .wav clips"):
        scan_dataset(nowav)


def test_bad_names_raise_or_are_skipped(tmp_path: Path, capsys, index_only_cli) -> None:
    root = tmp_path / "d"
    good = touch(root / "fan/train/normal_id_00_00000000.wav")
    bad = touch(root / "fan/train/recording_01.wav")
    wrong = touch(root / "pump/test/section_00_source_train_normal_0000_x_1.wav")  # train name in test/
    touch(root / "pump/test/section_00_source_test_normal_0001_x_1.wav")
    with pytest.raises(FileNameError) as info:
        scan_dataset(root)
    assert info.value.path == str(bad)
    index = scan_dataset(root, skip_bad=True)
    assert sorted(p for p, _ in index.skipped) == sorted([str(bad), str(wrong)])
    assert all(problem for _, problem in index.skipped)
    assert str(good) in [c.path for c in index.clips] and len(index.clips) == 2
    assert index.dataset == "mixed"  # 2020 names + section names
    # CLI: error -> exit code 2 naming the file; --skip-bad -> 0 with a warning
    assert index_only_cli(["index", str(root)]) == 2
    assert "recording_01.wav" in capsys.readouterr().err
    assert index_only_cli(["index", str(root), "--skip-bad", "--json"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 2
    assert "recording_01.wav" in captured.err
    assert index_only_cli(["index", str(tmp_path / "missing")]) == 2


def test_data_package_import_is_light() -> None:
    """Indexing must not pull TensorFlow in (fast `asd-tf index`)."""
    import subprocess
    import sys

    code = (
        "import sys, asd_tf.data, asd_tf.commands.index; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_clip_record_validation_and_json() -> None:
    from asd_tf.data.records import ClipRecord

    kw = dict(path="/d/fan/test/x.wav", dataset="dcase2022", machine="fan", section="03", domain="unknown",
              split="test", label="unknown", attributes="car_C2_spd", attribute_pairs=(("car", "C2"), ("spd", "")))
    rec = ClipRecord(**kw)
    assert rec.to_json() == {"path": "/d/fan/test/x.wav", "dataset": "dcase2022", "machine": "fan", "section": "03",
                             "domain": "unknown", "split": "test", "label": "unknown",
                             "attributes": {"car": "C2", "spd": ""}}
    for field, bad in (("domain", "left"), ("label", "broken"), ("split", "eval"), ("dataset", "dcase2019"),
                       ("section", "3")):
        with pytest.raises(DatasetError, match=field):
            ClipRecord(**{**kw, field: bad})


def test_dcase2020_eval_names_have_unknown_label(tmp_path: Path) -> None:
    touch(tmp_path / "ToyCar/test/id_05_00000000.wav")
    touch(tmp_path / "ToyCar/train/normal_id_05_00000000.wav")
    index = scan_dataset(tmp_path)
    assert [(c.split, c.label, c.domain, c.section) for c in index.clips] == [
        ("test", "unknown", "source", "05"), ("train", "normal", "source", "05")
    ]
