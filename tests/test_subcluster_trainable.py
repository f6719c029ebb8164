"""Sub-cluster AdaCos with trainable centres and the scale fixed at s_0, against NumPy.

docs/design.md, "Later methods".
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import loss_reference as ref  # noqa: E402
from asd_tf.losses import build_loss  # noqa: E402

B, D, N, M, SAMPLES = 8, 6, 3, 4, 32
TRAINABLE = {"trainable_centres": True, "dynamic_scale": False}


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, SAMPLES)).astype(np.float32)
    y = (np.arange(B) % N).astype(np.int32)
    return x, y


def train_one_step(**params):
    """One ASDTrainer step (mixup on) of a linear embedding model; returns (loss layer, centres before)."""
    from asd_tf.training.trainer import ASDTrainer

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((SAMPLES,)), keras.layers.Dense(D, use_bias=False)])
    loss = build_loss("subcluster_adacos", N, D, num_subclusters=M, seed=1, **params)
    before = loss.centres.numpy().copy()
    trainer = ASDTrainer(model, loss, mixup_prob=1.0, seed=0)
    trainer.compile(optimizer=keras.optimizers.SGD(0.5))
    trainer.build_for_training(SAMPLES)
    x, y = data()
    trainer.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(B), epochs=1, verbose=0)
    return loss, before


def test_centres_move_only_with_the_option_and_scale_stays_s0():
    s0 = math.sqrt(2) * math.log(N * M - 1)
    moved, before = train_one_step(**TRAINABLE)
    assert [w.name for w in moved.trainable_weights] == ["centres"]
    assert np.abs(moved.centres.numpy() - before).max() > 1e-3
    assert float(moved.scale.numpy()) == pytest.approx(s0, rel=1e-6)
    # default: fixed centres, adaptive scale (unchanged behaviour)
    fixed, before = train_one_step()
    assert not fixed.trainable_weights
    np.testing.assert_array_equal(fixed.centres.numpy(), before)
    assert float(fixed.scale.numpy()) != pytest.approx(s0, rel=1e-3)
    assert fixed.get_config()["dynamic_scale"] is True and fixed.get_config()["trainable_centres"] is False


def test_forward_and_centre_gradient_match_numpy():
    layer = build_loss("subcluster_adacos", N, D, num_subclusters=M, **TRAINABLE)
    rng = np.random.default_rng(2)
    # trained centres are no longer unit vectors: the layer normalises them at every use
    layer.centres.assign(layer.centres.numpy() * rng.uniform(0.5, 2.0, (N * M, 1)).astype(np.float32))
    s0 = float(layer.scale.numpy())
    e = rng.standard_normal((B, D)).astype(np.float32)
    y1 = rng.integers(0, N, B).astype(np.int32)
    y2 = rng.integers(0, N, B).astype(np.int32)
    lam = rng.uniform(size=B).astype(np.float32)
    t = ref.targets(y1, N, y2, lam)
    c = layer.centres.numpy().astype(np.float64)
    with tf.GradientTape() as tape:
        loss = layer(e, y1, y2, lam, training=True)
        total = tf.reduce_sum(loss)
    grad = tape.gradient(total, layer.centres).numpy()
    np.testing.assert_allclose(loss.numpy(), ref.subcluster_loss(e, c, t, s0, M), rtol=1e-4, atol=1e-5)
    assert float(layer.scale.numpy()) == s0  # a training call did not adapt the scale
    h = 1e-5
    for j, d in [(0, 0), (5, 3), (11, 5)]:
        plus, minus = c.copy(), c.copy()
        plus[j, d] += h
        minus[j, d] -= h
        fd = (ref.subcluster_loss(e, plus, t, s0, M).sum() - ref.subcluster_loss(e, minus, t, s0, M).sum()) / (2 * h)
        assert grad[j, d] == pytest.approx(fd, rel=1e-3, abs=1e-4)
