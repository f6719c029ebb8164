"""Label and domain variants (docs/design.md, "Later methods").

Label tables, class weights, weighted mixup pairs, training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from asd_tf.data.labels import NO_CLASS, LabelSet, build_label_set, source_count_weights, training_class_ids
from asd_tf.data.records import ClipRecord
from asd_tf.errors import ConfigError


def clip(machine: str, section: str, attrs: str, domain: str, i: int) -> ClipRecord:
    return ClipRecord(
        path=f"/d/{machine}/train/section_{section}_{domain}_train_normal_{i:04d}_{attrs}.wav",
        dataset="dcase2022", machine=machine, section=section, domain=domain, split="train",
        label="normal", attributes=attrs, attribute_pairs=(),
    )


# fan/00: attribute A (2 source, 1 target), B (1 source); valve/01: C (3 source), D (1 target).
CLIPS = [
    clip("fan", "00", "A", "source", 0),
    clip("fan", "00", "A", "source", 1),
    clip("fan", "00", "A", "target", 2),
    clip("fan", "00", "B", "source", 3),
    clip("valve", "01", "C", "source", 4),
    clip("valve", "01", "C", "source", 5),
    clip("valve", "01", "C", "source", 6),
    clip("valve", "01", "D", "target", 7),
]


def test_domain_left_out_of_the_label_and_target_clips_get_no_class():
    labels = build_label_set(CLIPS, "attribute", domain_in_label=False)
    assert labels.names == ["fan/00/A", "fan/00/B", "valve/01/C", "valve/01/D"]
    # hand-computed: class ids, target clips -1 (all-zero target row)
    assert training_class_ids(labels, CLIPS).tolist() == [0, 0, NO_CLASS, 1, 2, 2, 2, NO_CLASS]
    assert NO_CLASS == -1
    # the setting travels with the label set; default label sets keep their JSON
    assert LabelSet.from_json(json.loads(json.dumps(labels.to_json()))) == labels
    assert LabelSet.from_json(labels.to_json()).class_of(CLIPS[2]) == "fan/00/A"
    default = build_label_set(CLIPS, "attribute")
    assert default.to_json() == {"name": "attribute", "names": [
        "fan/00/A/source", "fan/00/A/target", "fan/00/B/source", "valve/01/C/source", "valve/01/D/target"]}
    assert training_class_ids(default, CLIPS).tolist() == [0, 0, 1, 2, 3, 3, 3, 4]
    # label sets without the domain are unchanged by the option, only the target ids go
    section = build_label_set(CLIPS, "section", domain_in_label=False)
    assert section.names == ["fan/00", "valve/01"]
    assert training_class_ids(section, CLIPS).tolist() == [0, 0, -1, 0, 1, 1, 1, -1]


def test_source_count_class_weights_on_a_hand_made_table():
    labels = build_label_set(CLIPS, "attribute")
    # fan (3 source): A/source 3-2=1, A/target 3-0=3, B/source 3-1=2 -> mean 2 -> 0.5, 1.5, 1.0
    # valve (3 source): C/source 3-3=0, D/target 3-0=3 -> mean 1.5 -> 0.0, 2.0
    np.testing.assert_allclose(source_count_weights(labels, CLIPS), [0.5, 1.5, 1.0, 0.0, 2.0])
    no_domain = build_label_set(CLIPS, "attribute", domain_in_label=False)
    # fan: A 3-2=1, B 3-1=2 -> 2/3, 4/3; valve: C 3-3=0, D 3-0=3 -> 0, 2
    np.testing.assert_allclose(source_count_weights(no_domain, CLIPS), [2 / 3, 4 / 3, 0.0, 2.0])
    # one class per machine type: nothing to balance, weight 1
    np.testing.assert_allclose(source_count_weights(build_label_set(CLIPS, "machine"), CLIPS), [1.0, 1.0])


def _soft_ce(logits: np.ndarray, rows: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -(rows * log_p).sum(axis=1)


def test_weighted_pairs_give_the_loss_of_the_weighted_target_row():
    import tensorflow as tf

    from asd_tf.losses.registry import build_loss
    from asd_tf.training.trainer import pair_weights

    num_classes, dim = 4, 6
    w = np.array([0.5, 2.0, 1.0, 3.0])
    y1 = np.array([0, -1, 2, -1, 3], dtype=np.int32)
    y2 = np.array([1, 3, -1, -1, 3], dtype=np.int32)
    lam = np.array([0.3, 0.6, 0.8, 0.4, 1.0], dtype=np.float32)
    emb = np.random.default_rng(0).normal(size=(5, dim)).astype(np.float32)
    layer = build_loss("adacos", num_classes, dim, seed=0)
    a, b, lam2, mass = pair_weights(y1, y2, lam, w.tolist())
    got = (mass * layer(emb, a, b, lam2, training=False)).numpy()
    # NumPy reference: row = lam w[y1] onehot(y1) + (1-lam) w[y2] onehot(y2), id -1 an all-zero row
    eye = np.eye(num_classes)
    rows = np.zeros((5, num_classes))
    for i in range(5):
        if y1[i] >= 0:
            rows[i] += lam[i] * w[y1[i]] * eye[y1[i]]
        if y2[i] >= 0:
            rows[i] += (1 - lam[i]) * w[y2[i]] * eye[y2[i]]
    expected = _soft_ce(layer.logits(tf.constant(emb)).numpy().astype(np.float64), rows)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got[3] == 0.0 and np.isfinite(got).all()  # two all-zero rows mixed: no loss, no NaN
    np.testing.assert_allclose(mass.numpy(), [0.3 * 0.5 + 0.7 * 2.0, 0.4 * 3.0, 0.8 * 1.0, 0.0, 3.0], rtol=1e-6)


def test_clips_without_class_give_no_gradient():
    import keras

    from asd_tf.losses.registry import build_loss
    from asd_tf.training.trainer import ASDTrainer

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    trainer = ASDTrainer(model, build_loss("adacos", 3, 4, seed=0), class_weights=[1.0, 1.0, 1.0], seed=0)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    trainer.build_for_training(8)
    before = [v.numpy().copy() for v in model.weights]
    x = np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32)
    logs = trainer.train_step((x, np.full(4, -1, np.int32)))  # eager: the step as training runs it
    assert float(logs["loss"]) == 0.0
    for old, new in zip(before, model.weights):
        np.testing.assert_array_equal(old, new.numpy())
    trainer.train_step((x, np.array([0, 1, 2, -1], np.int32)))  # with classes the weights move
    assert any(not np.array_equal(o, n.numpy()) for o, n in zip(before, model.weights))


def test_tile_crop_is_a_circular_shift():
    from asd_tf.training.trainer import tile_crop

    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    got = tile_crop(x, np.array([2, 5])).numpy()
    # hand-computed: row tiled [0..5, 0..5] cut at 2 -> 2 3 4 5 0 1; row 2 cut at 5 -> 11 6 7 8 9 10
    np.testing.assert_array_equal(got, [[2, 3, 4, 5, 0, 1], [11, 6, 7, 8, 9, 10]])
    np.testing.assert_array_equal(got, np.stack([np.roll(x[0], -2), np.roll(x[1], -5)]))


def test_random_crop_offsets_come_from_the_mixup_stream():
    import keras

    from asd_tf.losses.registry import build_loss
    from asd_tf.training.trainer import ASDTrainer

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    seen = []  # the inputs the embedding model receives in the training step
    trainer = ASDTrainer(model, build_loss("adacos", 3, 4, seed=0), mixup_prob=0.0, input_crop="random", seed=3)
    trainer.compile(optimizer=keras.optimizers.SGD(0.0))
    trainer.build_for_training(8)
    x = np.tile(np.arange(8, dtype=np.float32), (4, 1))
    import tensorflow as tf

    expected_offsets = tf.random.Generator.from_seed(3).uniform([4], 0, 8, dtype=tf.int32).numpy()
    shifted = np.stack([np.roll(x[i], -o) for i, o in enumerate(expected_offsets)])
    original_call = model.call
    model.call = lambda inputs, **kw: (seen.append(np.asarray(inputs)), original_call(inputs))[1]
    trainer.train_step((x, np.zeros(4, np.int32)))
    np.testing.assert_array_equal(seen[0], shifted)
    with pytest.raises(ConfigError, match="input_crop"):
        ASDTrainer(model, build_loss("adacos", 3, 4, seed=0), input_crop="tile")


def test_variant_settings_are_checked():
    from asd_tf.settings import IDENTITY_KEYS, TrainConfig

    with pytest.raises(ConfigError, match="class_weights"):
        TrainConfig(class_weights="inverse").validate()
    with pytest.raises(ConfigError, match="domain_in_label"):
        TrainConfig.from_dict({"domain_in_label": "no"})
    with pytest.raises(ConfigError, match="source_only"):
        TrainConfig.from_dict({"source_only": 1})
    with pytest.raises(ConfigError, match="input_crop"):
        TrainConfig(input_crop="center").validate()
    assert {"domain_in_label", "class_weights", "source_only", "input_crop"} <= set(IDENTITY_KEYS)


def test_all_variants_train_end_to_end(tiny_run_factory, tiny_data):
    import yaml

    from asd_tf.data.index import scan_dataset

    run_dir = Path(tiny_run_factory(domain_in_label=False, class_weights="source_counts", source_only=True, input_crop="random", epochs=1,
    ))
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (cfg["domain_in_label"], cfg["class_weights"], cfg["source_only"], cfg["input_crop"]) == (
        False, "source_counts", True, "random")
    train = [c for c in scan_dataset(tiny_data).clips if c.split == "train"]
    source = [c for c in train if c.domain != "target"]
    assert len(source) < len(train)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["clips"] == len(source)
    labels = json.loads((run_dir / "label_set.json").read_text())
    assert labels["domain_in_label"] is False
    assert labels["names"] == sorted({f"{c.machine}/{c.section}/{c.attributes or '-'}" for c in source})
    assert np.isfinite(summary["final"]["loss"])


def test_variant_flags_set_the_settings():
    """The command-line flags of the variants reach TrainConfig (and the defaults stay when not given)."""
    import argparse

    from asd_tf.commands.train import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["train", "--data", "/somewhere", "--out", "/tmp/x"]
    cfg = config_from_args(parser.parse_args(base))
    assert (cfg.domain_in_label, cfg.class_weights, cfg.source_only, cfg.input_crop) == (True, "none", False, "none")
    cfg = config_from_args(parser.parse_args(base + ["--no-domain-in-label", "--class-weights", "source_counts",
                                                     "--source-only", "--input-crop", "random"]))
    assert (cfg.domain_in_label, cfg.class_weights, cfg.source_only, cfg.input_crop) == (False, "source_counts", True, "random")
