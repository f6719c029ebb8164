"""DCASE 2024/2025 layouts: file names, indexing, names without a domain, and the synthetic 2024/2025 sets.

References: hand-written expected fields of real 2024/2025 names (taken from
the published evaluator ground truth and the baseline's evaluation lists),
hand-counted folder trees, and, for the unchanged layouts, SHA-256 values
computed with the generator as it was before the 2024/2025 layouts existed
(commit 002a411).
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from asd_tf import synthetic as S
from asd_tf.data.filenames import parse_attributes, parse_filename
from asd_tf.data.index import scan_dataset
from asd_tf.errors import FileNameError
from asd_tf.synthetic.boxes import boxes_csv
from asd_tf.synthetic.plan import MACHINES
from asd_tf.synthetic.render import render_clip
from asd_tf.synthetic.tables import anonymised_names, attribute_tables
from asd_tf.synthetic.writer import to_pcm16


from conftest import touch_wav as touch  # noqa: E402  (a 2-sample WAV: index checks audio)


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name, expected",
    [
        # (section, domain, split, label, index, attributes, pairs)
        # 2024 RoboticArm evaluation test name: no split, attributes run together
        ("section_00_source_normal_0035_weight15_BckgF.wav",
         ("00", "source", None, "normal", "0035", "weight15_BckgF", (("weight", "15"), ("Bckg", "F")))),
        ("section_00_target_anomaly_0059_weight25_BckgE.wav",
         ("00", "target", None, "anomaly", "0059", "weight25_BckgE", (("weight", "25"), ("Bckg", "E")))),
        # 2024 BrushlessMotor: run together, numbering from 0000
        ("section_00_source_train_normal_0000_spd1000_BckgA.wav",
         ("00", "source", "train", "normal", "0000", "spd1000_BckgA", (("spd", "1000"), ("Bckg", "A")))),
        # hidden attributes
        ("section_00_source_train_normal_0001_noAttribute.wav",
         ("00", "source", "train", "normal", "0001", "noAttribute", ())),
        # 2025 templates: empty attribute string after a trailing underscore
        ("section_00_target_train_normal_0009_.wav", ("00", "target", "train", "normal", "0009", "", ())),
        # 2024 slider (published full attributes): trailing underscore inside the attributes
        ("section_00_source_test_anomaly_0001_ac_0.03_.wav",
         ("00", "source", "test", "anomaly", "0001", "ac_0.03_", (("ac", "0.03"),))),
        # 2025 AutoTrash (published): ordinary key_value pairs
        ("section_00_target_test_anomaly_0012_id_C1_spd_2_mic_2.wav",
         ("00", "target", "test", "anomaly", "0012", "id_C1_spd_2_mic_2", (("id", "C1"), ("spd", "2"), ("mic", "2")))),
        # anonymised evaluation names: 2024 Scanner numbers from 0001; the 2024 baseline's listing form
        ("section_00_0001.wav", ("00", None, None, None, "0001", "", ())),
        ("section_00_test_0199.wav", ("00", None, "test", None, "0199", "", ())),
    ],
)
def test_parse_2024_2025_names(name: str, expected: tuple) -> None:
    p = parse_filename(name)
    assert (p.section, p.domain, p.split, p.label, p.index, p.attributes, p.attribute_pairs) == expected
    assert p.style == "section" and p.name == name


def test_run_together_attributes() -> None:
    assert parse_attributes("weight15_BckgF") == (("weight", "15"), ("Bckg", "F"))
    assert parse_attributes("spd1300_BckgE") == (("spd", "1300"), ("Bckg", "E"))
    # a mixture: run-together token, then ordinary pairs
    assert parse_attributes("weight15_loc_A") == (("weight", "15"), ("loc", "A"))
    # ordinary keys are never read as run together, whatever their values look like
    assert parse_attributes("car_C2_spd_34V_mic_1") == (("car", "C2"), ("spd", "34V"), ("mic", "1"))
    assert parse_attributes("m-n_W") == (("m-n", "W"),)
    # a token that starts with an upper-case letter and digit is no key+value (2023 ToyCar form)
    assert parse_attributes("A1Spd28VMic1") == (("A1Spd28VMic1", ""),)


def test_supplemental_names_are_not_clip_names() -> None:
    # the 2025 supplemental naming has no domain/label fields: never a training or test clip name
    with pytest.raises(FileNameError):
        parse_filename("section_00_machine_0001_.wav")


# --------------------------------------------------------------------------- index


def _tree_2024(root: Path) -> None:
    """A hand-made 2024 evaluation-style tree (counts in the test below)."""
    for i in range(1, 4):
        touch(root / f"RoboticArm/train/section_00_source_train_normal_{i:04d}_weight15_BckgF.wav")
    touch(root / "RoboticArm/train/section_00_target_train_normal_0001_weight35_BckgE.wav")
    touch(root / "RoboticArm/test/section_00_source_normal_0035_weight15_BckgF.wav")  # renamed eval test: no split
    touch(root / "RoboticArm/test/section_00_target_anomaly_0059_weight25_BckgE.wav")
    for i in range(0, 2):
        touch(root / f"BrushlessMotor/train/section_00_source_train_normal_{i:04d}_spd1000_BckgA.wav")
    touch(root / "BrushlessMotor/train/section_00_target_train_normal_0000_noAttribute.wav")
    for i in range(1, 4):
        touch(root / f"Scanner/test/section_00_{i:04d}.wav")  # anonymised, numbered from 0001
    touch(root / "Scanner/train/section_00_source_train_normal_0001_res_1_len_2.wav")
    touch(root / "Scanner/train/section_00_target_train_normal_0001_res_2_len_1.wav")


def test_index_2024_tree(tmp_path: Path) -> None:
    root = tmp_path / "eval"
    _tree_2024(root)
    index = scan_dataset(root)
    assert index.dataset == "dcase2024"  # RoboticArm, BrushlessMotor, Scanner exist in 2024 only
    counts = {}
    for c in index.clips:
        key = (c.machine, c.split, c.domain, c.label)
        counts[key] = counts.get(key, 0) + 1
    assert counts == {
        ("RoboticArm", "train", "source", "normal"): 3,
        ("RoboticArm", "train", "target", "normal"): 1,
        ("RoboticArm", "test", "source", "normal"): 1,
        ("RoboticArm", "test", "target", "anomaly"): 1,
        ("BrushlessMotor", "train", "source", "normal"): 2,
        ("BrushlessMotor", "train", "target", "normal"): 1,
        ("Scanner", "test", "unknown", "unknown"): 3,
        ("Scanner", "train", "source", "normal"): 1,
        ("Scanner", "train", "target", "normal"): 1,
    }
    arm = [c for c in index.clips if c.machine == "RoboticArm" and c.split == "test"]
    assert {c.attributes for c in arm} == {"weight15_BckgF", "weight25_BckgE"}
    assert index.supplemental == []


def test_year_from_folder_names_and_machine_types(tmp_path: Path) -> None:
    # the baseline's folder naming (data/dcase2024t2/dev_data/raw/<machine>)
    hinted = tmp_path / "data/dcase2024t2/dev_data/raw"
    touch(hinted / "fan/train/section_00_source_train_normal_0001_m-n_W.wav")
    assert scan_dataset(tmp_path / "data").dataset == "dcase2024"
    hinted25 = tmp_path / "x/DCASE2025_task2_dev"
    touch(hinted25 / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    assert scan_dataset(hinted25).dataset == "dcase2025"
    # dev machine types only, no folder name: 2023 as before (2023-2025 share naming and metrics)
    plain = tmp_path / "plain"
    touch(plain / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    assert scan_dataset(plain).dataset == "dcase2023"
    # a 2025 evaluation machine type names the year for the whole unhinted tree
    touch(plain / "ToyRCCar/train/section_00_source_train_normal_0000_noAttribute.wav")
    assert {c.dataset for c in scan_dataset(plain).clips} == {"dcase2025"}
    # machine types of two different years: no single year is named -> 2023
    touch(plain / "RoboticArm/train/section_00_source_train_normal_0001_weight15_BckgF.wav")
    assert scan_dataset(plain).dataset == "dcase2023"
    # the argument still wins
    assert scan_dataset(plain, dataset="dcase2024").dataset == "dcase2024"


def test_supplemental_folder_is_listed_not_indexed(tmp_path: Path) -> None:
    root = tmp_path / "d"
    touch(root / "bearing/train/section_00_source_train_normal_0000_noAttribute.wav")
    touch(root / "bearing/test/section_00_source_test_normal_0000_noAttribute.wav")
    touch(root / "bearing/supplemental/section_00_machine_0001_.wav")
    touch(root / "bearing/supplemental/section_00_machine_0002_.wav")
    touch(root / "bearing/supplemental/section_00_noise_0001_.wav")
    touch(root / "bearing/supplemental/clean_recording.wav")  # unknown naming: kept as "other"
    touch(root / "bearing/supplemental/readme.txt")
    index = scan_dataset(root)
    assert index.dataset == "dcase2025"  # only 2025 has supplemental folders
    assert sorted(os.path.relpath(c.path, root) for c in index.clips) == [
        "bearing/test/section_00_source_test_normal_0000_noAttribute.wav",
        "bearing/train/section_00_source_train_normal_0000_noAttribute.wav",
    ]
    got = sorted((os.path.basename(s.path), s.machine, s.section, s.kind) for s in index.supplemental)
    assert got == [
        ("clean_recording.wav", "bearing", None, "other"),
        ("section_00_machine_0001_.wav", "bearing", "00", "machine"),
        ("section_00_machine_0002_.wav", "bearing", "00", "machine"),
        ("section_00_noise_0001_.wav", "bearing", "00", "noise"),
    ]
    # the training split is unchanged by the supplemental clips
    assert [c.split for c in index.select(split="train")] == ["train"]


def test_index_cli_reports_supplemental(tmp_path: Path, capsys, monkeypatch) -> None:
    from asd_tf import commands
    from asd_tf.registry import Registry

    monkeypatch.setattr(commands, "COMMANDS", Registry("command", {"index": "asd_tf.commands.index"}))
    root = tmp_path / "d"
    touch(root / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    for i in range(3):
        touch(root / f"fan/supplemental/section_00_machine_{i:04d}_.wav")
    touch(root / "fan/supplemental/section_00_noise_0000_.wav")
    assert commands.main(["index", str(root)]) == 0
    out = capsys.readouterr().out
    assert "fan: 4 supplemental clip(s) (machine 3, noise 1); not training data" in out
    assert "1 clips in" in out


# --------------------------------------------------------------------------- names without a domain (issue 17)


@pytest.mark.parametrize("folder, name", [
    ("train", "section_00_train_normal_0001_m-n_W.wav"),     # training clip without domain
    ("train", "section_00_0001.wav"),                        # anonymised-looking training clip
    ("test", "section_00_test_anomaly_0001_m-n_W.wav"),      # labelled test clip without domain
    ("test", "section_00_normal_0001_weight15_BckgF.wav"),   # RoboticArm form without domain
])
@pytest.mark.parametrize("year", ["dcase2021", "dcase2022", "dcase2023", "dcase2024", "dcase2025"])
def test_labelled_clip_without_domain_is_an_error(tmp_path: Path, folder: str, name: str, year: str) -> None:
    root = tmp_path / year
    touch(root / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    bad = touch(root / f"fan/{folder}/{name}")
    with pytest.raises(FileNameError) as info:
        scan_dataset(root)
    assert info.value.path == str(bad) and "no domain" in info.value.problem
    index = scan_dataset(root, skip_bad=True)
    assert [p for p, _ in index.skipped] == [str(bad)]
    assert all(c.domain in ("source", "target") for c in index.clips) and len(index.clips) == 1


def test_unlabelled_test_clip_and_2020_names_need_no_domain(tmp_path: Path) -> None:
    root = tmp_path / "dcase2024"
    touch(root / "fan/train/section_00_source_train_normal_0000_m-n_W.wav")
    touch(root / "fan/test/section_00_0000.wav")  # anonymised: label and domain come from ground truth
    assert [(c.label, c.domain) for c in scan_dataset(root).select(split="test")] == [("unknown", "unknown")]
    old = tmp_path / "dcase2020_dev"
    touch(old / "fan/train/normal_id_00_00000000.wav")
    touch(old / "fan/test/anomaly_id_00_00000000.wav")
    assert {c.domain for c in scan_dataset(old).clips} == {"source"}  # 2020: no domains, unchanged


# --------------------------------------------------------------------------- synthetic 2024 / 2025


def test_plan_2024_names_and_counts() -> None:
    specs = S.plan_dataset("dcase2024", "tiny")
    assert [m for m, _ in MACHINES["dcase2024"][:3]] == ["bearing", "gearbox", "RoboticArm"]
    assert len(specs) == 3 * (12 + 4 + 4 * 4) == 96
    by_machine = {}
    for s in specs:
        by_machine.setdefault(s.machine, []).append(s)
    # numbering from 0001; source train clips 0001..0012 per machine
    bearing_train = sorted(s.name for s in by_machine["bearing"] if s.split == "train" and s.domain == "source")
    assert bearing_train[0] == "section_00_source_train_normal_0001_vel_6_loc_A.wav"
    assert [parse_filename(n).index for n in bearing_train] == [f"{i:04d}" for i in range(1, 13)]
    # gearbox attributes hidden in the name, still present for the sound
    gear = by_machine["gearbox"]
    assert {parse_filename(s.name).attributes for s in gear} == {"noAttribute"}
    assert all(s.attr_pairs and s.hidden for s in gear)
    # RoboticArm: attributes run together; test names without the split, train names with it
    arm_test = sorted(s.name for s in by_machine["RoboticArm"] if s.split == "test")
    assert "section_00_source_normal_0001_weight15_BckgC.wav" in arm_test
    assert all("_test_" not in n for n in arm_test)
    assert all("_train_" in s.name for s in by_machine["RoboticArm"] if s.split == "train")
    for s in by_machine["RoboticArm"]:
        assert parse_filename(s.name).attribute_pairs == s.attr_pairs  # the parser reads the quirk back
    assert len({s.name for s in specs if s.machine == "RoboticArm"}) == 32  # no name used twice


def test_plan_2025_numbering_hidden_and_supplemental() -> None:
    specs = S.plan_dataset("dcase2025", "tiny")
    first = sorted(s.name for s in specs if s.machine == "fan" and s.split == "train" and s.domain == "source")[0]
    assert first == "section_00_source_train_normal_0000_m-n_W_spd_60.wav"
    assert {parse_filename(s.name).attributes for s in specs if s.machine == "bearing"} == {"noAttribute"}
    sup = S.plan_supplemental("dcase2025", "tiny")
    assert sorted((s.machine, s.name) for s in sup if s.machine == "valve") == [
        ("valve", "section_00_machine_0000_.wav"), ("valve", "section_00_machine_0001_.wav"),
        ("valve", "section_00_noise_0000_.wav"), ("valve", "section_00_noise_0001_.wav"),
    ]
    assert S.plan_supplemental("dcase2023", "tiny") == [] and S.plan_supplemental("dcase2024", "tiny") == []


# SHA-256 of the unchanged layouts, computed with the generator before 2024/2025 existed
# (commit 002a411): names of the tiny plans, and three rendered clips (1 s, seed 7) with
# their anomaly boxes; attribute tables and anonymised names of an eval split (seed 3).
_GOLDEN = {
    "dcase2020_names": "40c83b02cc0f260f26c2c465bb9ef67a4ec54f6e8857b27cec9f1e828e2df04f",
    "dcase2020_audio": "75a991c7bcef6741bdf2343e596ec683773dda0645130cde5a5ded7237d7efab",
    "dcase2022_names": "8723bff8a68f0a994abba204415de11aaebd54bcc76f6bd996a995d213a3f257",
    "dcase2022_audio": "8b08df9554bb53f4df34656ce8ef60a079d3d62a177fa0b09a9da6a5dac08de8",
    "dcase2022_anon": "a7aff113044d1cb968dc22a02b17ef60bdb9b15d338b35bfe287a33684b942a4",
    "dcase2022_tables": "7f3ae5cf1606557a80abb2dd2b2dcda5179fbf07c62b12a3c656f80b22b75a80",
    "dcase2023_names": "671a4c63765363e6d7347236d14a75ba1f2c635c374ad8a0a93a09f1a856c865",
    "dcase2023_audio": "96b5a740a35cb382c362f4ba1d9b12d1a0a9eef7a03b4fe7667b6f15e60d06af",
    "dcase2023_anon": "013e36bdf018a1385a241e20b27fe548c97f7285d9b4edf7e5e7d8a200a2cfe3",
    "dcase2023_tables": "ef6bae2c21f5e0f3a6cd4647886311f4fe1a24333ea1ad45bbc67a8792e66701",
    "dcase2023_mixed_state_audio": "ebdd6c7de38631895372b7dd95651ed204da866ddd199140f8f11b174ee85c28",
}


def _render_hash(specs: list, picks: tuple[int, ...]) -> str:
    h = hashlib.sha256()
    for i in picks:
        x, boxes = render_clip(replace(specs[i], duration_s=1.0), 7)
        h.update(to_pcm16(x).tobytes())
        h.update(boxes_csv(boxes).encode())
    return h.hexdigest()


@pytest.mark.parametrize("layout", ["dcase2020", "dcase2022", "dcase2023"])
def test_existing_layouts_unchanged(layout: str) -> None:
    specs = S.plan_dataset(layout, "tiny", "factory")
    got = {
        f"{layout}_names": hashlib.sha256("\n".join(s.relpath for s in specs).encode()).hexdigest(),
        f"{layout}_audio": _render_hash(specs, (0, len(specs) // 2 + 1, len(specs) - 1)),
    }
    if layout != "dcase2020":
        names = anonymised_names(specs, 3)
        got[f"{layout}_anon"] = hashlib.sha256("\n".join(sorted(names.values())).encode()).hexdigest()
        got[f"{layout}_tables"] = hashlib.sha256(
            repr(sorted(attribute_tables(specs, names, True).items())).encode()).hexdigest()
    if layout == "dcase2023":  # attribute_mix partners come from the (now machine-aware) scheme lookup
        mixed = S.plan_dataset(layout, "tiny", "mixed_state")
        got[f"{layout}_mixed_state_audio"] = _render_hash(mixed, (len(mixed) - 1, len(mixed) - 5))
    assert got == {k: _GOLDEN[k] for k in got}


@pytest.fixture
def micro(monkeypatch) -> str:
    """A size smaller than ``tiny`` (1-s clips, 1 target and 2 source training clips, one test clip
    per domain and label) so that whole 2024/2025 sets are written in about a second."""
    monkeypatch.setitem(S.SIZES, "micro", S.SizeSpec(3, 1, 2, 2, 1, 1, 1.0, 1))
    return "micro"


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_generate_2024_eval_split_ground_truth(tmp_path: Path, micro: str) -> None:
    """The eval split's ground truth in the format the official 2024 evaluator reads.

    Facts of that evaluator (nttcslab/dcase2024_task2_evaluator): machine types are
    the third ``_`` field of ``ground_truth_data/ground_truth_*.csv``; for every
    machine and section it needs ``ground_truth_data``, ``ground_truth_domain`` and
    ``ground_truth_attributes`` files of that name; attribute rows are
    ``anonymised name,full name without .wav``; score, label and domain rows are
    aligned by sorting on the anonymised name.
    """
    root = S.generate(tmp_path / "d24", "dcase2024", micro, seed=1, eval_split=True)
    specs = S.plan_dataset("dcase2024", micro)
    truth = {s.name: s for s in specs if s.split == "test"}
    machines = sorted({p.name.split("_")[2] for p in (root / "ground_truth_data").glob("ground_truth_*.csv")})
    assert machines == ["RoboticArm", "bearing", "gearbox"]
    index = scan_dataset(root)  # strict ground truth: raises on any mismatch
    assert index.dataset == "dcase2024" and index.ground_truth == str(root)
    for machine in machines:
        fname = f"ground_truth_{machine}_section_00_test.csv"
        data = _read_csv(root / "ground_truth_data" / fname)
        domain = _read_csv(root / "ground_truth_domain" / fname)
        attrs = _read_csv(root / "ground_truth_attributes" / fname)
        anon = [r[0] for r in data]
        assert anon == sorted(anon) == [r[0] for r in domain] == [r[0] for r in attrs]
        assert len(anon) == 4 and all(len(r) == 2 for r in data + domain)
        start = 1 if machine == "gearbox" else 0  # as the 2024 Scanner
        assert anon == [f"section_00_{i:04d}.wav" for i in range(start, start + 4)]
        assert sorted(n for n in os.listdir(root / machine / "test") if n.endswith(".wav")) == anon
        for (name, label), (_, dom), row in zip(data, domain, attrs):
            full = row[1] + ".wav"
            assert not row[1].endswith(".wav")
            s = truth[full]  # the full name is the planned official name
            assert label == str(int(s.label == "anomaly")) and dom == str(int(s.domain == "target"))
            if machine == "RoboticArm":
                assert "_test_" not in full
            if machine == "gearbox":  # hidden attributes: third column with the real ones
                real = "_".join(f"{k}_{v}" for k, v in s.attr_pairs)  # e.g. volt_1.0_wt_80
                assert row[1].endswith("_noAttribute") and row[2] == full.replace("noAttribute", real)
            else:
                assert len(row) == 2
        clips = index.select(machine=machine, split="test")
        assert [(c.label, c.domain) for c in clips] == [
            ("anomaly" if lab == "1" else "normal", "target" if d == "1" else "source")
            for (_, lab), (_, d) in zip(data, domain)
        ]


def test_generate_2025_supplemental_and_reuse(tmp_path: Path, micro: str) -> None:
    import soundfile as sf

    ev = S.generate(tmp_path / "ev", "dcase2025", micro, seed=0, eval_split=True)
    sup = sorted(p.relative_to(ev).as_posix() for p in ev.glob("*/supplemental/*.wav"))
    assert sup == [f"{m}/supplemental/section_00_{k}_0000_.wav"
                   for m in ("bearing", "fan", "valve") for k in ("machine", "noise")]
    info = sf.info(str(ev / "fan/supplemental/section_00_machine_0000_.wav"))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)
    index = scan_dataset(ev)
    assert index.dataset == "dcase2025" and len(index.clips) == 3 * 7 and len(index.supplemental) == 6
    assert {s.kind for s in index.supplemental} == {"machine", "noise"}
    assert {c.label for c in index.clips} == {"normal", "anomaly"}  # ground truth applied
    # an eval split made before ground_truth_attributes existed gets it on reuse (no audio rewritten)
    gt_attr = ev / "ground_truth_attributes"
    text = {p.name: p.read_text() for p in gt_attr.iterdir()}
    for p in gt_attr.iterdir():
        p.unlink()
    gt_attr.rmdir()
    S.generate(tmp_path / "ev", "dcase2025", micro, seed=0, eval_split=True)
    assert {p.name: p.read_text() for p in gt_attr.iterdir()} == text
