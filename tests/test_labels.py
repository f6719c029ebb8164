"""Auxiliary label sets: class names and ids checked against hand-computed tables."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from asd_tf.data.index import scan_dataset
from asd_tf.data.labels import LABEL_SETS, LabelSet, build_label_set, individual_groups
from asd_tf.data.records import ClipRecord
from asd_tf.errors import ConfigError, LabelError


def clip(machine: str, section: str, attrs: str, domain: str, i: int = 0, split: str = "train") -> ClipRecord:
    return ClipRecord(
        path=f"/d/{machine}/{split}/section_{section}_{domain}_{split}_normal_{i:04d}_{attrs}.wav",
        dataset="dcase2022", machine=machine, section=section, domain=domain, split=split,
        label="normal", attributes=attrs, attribute_pairs=(),
    )


CLIPS = [
    clip("valve", "01", "pat_00", "source", 0),
    clip("fan", "00", "m-n_W", "source", 1),
    clip("fan", "00", "m-n_W", "target", 2),
    clip("fan", "01", "m-n_X", "source", 3),
    clip("fan", "00", "m-n_W", "source", 4),
    clip("ToyCar", "00", "", "source", 5),
]

# Hand-computed: sorted class names (Python sorts upper case first) and each clip's id.
EXPECTED = {
    "none": (["all"], [0, 0, 0, 0, 0, 0]),
    "machine": (["ToyCar", "fan", "valve"], [2, 1, 1, 1, 1, 0]),
    "section": (["ToyCar/00", "fan/00", "fan/01", "valve/01"], [3, 1, 1, 2, 1, 0]),
    "attribute": (
        ["ToyCar/00/-/source", "fan/00/m-n_W/source", "fan/00/m-n_W/target", "fan/01/m-n_X/source",
         "valve/01/pat_00/source"],
        [4, 1, 2, 3, 1, 0],
    ),
    "individual": (["ToyCar/00", "fan/00", "fan/01", "valve/01"], [3, 1, 1, 2, 1, 0]),
}


@pytest.mark.parametrize("name", LABEL_SETS)
def test_label_sets_match_hand_tables(name: str) -> None:
    names, ids = EXPECTED[name]
    ls = build_label_set(CLIPS, name)
    assert ls.names == names
    assert ls.num_classes == len(names)
    enc = ls.encode(CLIPS)
    assert enc.dtype == np.int32
    assert enc.tolist() == ids
    assert ls.per_model == (name == "individual")


@pytest.mark.parametrize("name", LABEL_SETS)
def test_ids_do_not_depend_on_clip_order(name: str) -> None:
    shuffled = CLIPS[:]
    random.Random(3).shuffle(shuffled)
    a, b = build_label_set(CLIPS, name), build_label_set(shuffled, name)
    assert a == b
    assert a.encode(CLIPS).tolist() == b.encode(CLIPS).tolist()


def test_unknown_class_raises_label_error_naming_the_clip() -> None:
    ls = build_label_set(CLIPS, "attribute")
    stranger = clip("fan", "00", "m-n_Z", "source", 99)
    with pytest.raises(LabelError, match="section_00_source_train_normal_0099_m-n_Z.wav"):
        ls.encode(CLIPS + [stranger])
    with pytest.raises(LabelError):
        build_label_set(CLIPS, "machine").encode([clip("pump", "00", "", "source")])


def test_json_roundtrip_and_bad_names() -> None:
    ls = build_label_set(CLIPS, "section")
    again = LabelSet.from_json(json.loads(json.dumps(ls.to_json())))
    assert again == ls and again.encode(CLIPS).tolist() == ls.encode(CLIPS).tolist()
    with pytest.raises(ConfigError):
        build_label_set(CLIPS, "domain")
    with pytest.raises(LabelError):
        LabelSet.from_json({"name": "section"})
    with pytest.raises(LabelError):
        LabelSet(name="section", names=["b", "a"])  # not sorted: ids would not be deterministic
    with pytest.raises(LabelError):
        build_label_set([], "none")


def test_individual_groups() -> None:
    groups = individual_groups(CLIPS)
    assert list(groups) == [("ToyCar", "00"), ("fan", "00"), ("fan", "01"), ("valve", "01")]
    assert [c.path for c in groups[("fan", "00")]] == [CLIPS[1].path, CLIPS[2].path, CLIPS[4].path]
    assert sum(len(v) for v in groups.values()) == len(CLIPS)


def test_attribute_set_on_real_2023_train_clips(real_data_dir) -> None:
    train = scan_dataset(real_data_dir / "dcase2023_task2_dev").select(split="train")
    ls = build_label_set(train, "attribute")
    # hand-listed from the 14 training file names (all source domain)
    assert ls.names == [
        "ToyCar/00/car_C2_spd_31V_mic_1/source", "ToyCar/00/car_D2_spd_34V_mic_1/source",
        "ToyTrain/00/car_C2_spd_7_mic_1/source", "ToyTrain/00/car_D2_spd_10_mic_1/source",
        "bearing/00/vel_16_loc_A/source", "bearing/00/vel_21_loc_A/source",
        "fan/00/m-n_X/source",
        "gearbox/00/volt_1.5_wt_0/source", "gearbox/00/volt_1.5_wt_50/source",
        "slider/00/vel_490_ac_0.05/source", "slider/00/vel_500_ac_0.30/source",
        "valve/00/pat_01/source",
    ]
    assert build_label_set(train, "section").num_classes == 7
    # a test clip with an attribute never seen in training is not encodable
    test = scan_dataset(real_data_dir / "dcase2023_task2_dev").select(split="test", machine="fan")
    with pytest.raises(LabelError):
        ls.encode(test)
