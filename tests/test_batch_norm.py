"""The fused-kernel BatchNormalization gives Keras's numbers: outputs, gradients, moving statistics.

References: ``keras.layers.BatchNormalization`` with the same weights (Keras's own training
path, element-wise ``keras.ops``), and the batch-normalisation formula in NumPy (Ioffe & Szegedy
2015, Alg. 1: ``gamma (x - mean) / sqrt(var + eps) + beta`` with the biased batch variance;
``moving = momentum * moving + (1 - momentum) * batch``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from asd_tf.models.batch_norm import BatchNormalization  # noqa: E402

RNG = np.random.default_rng(0)


def _pair(shape, **kwargs):
    ours, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    ours.build(shape)
    theirs.build(shape)
    weights = [w + 0.3 * RNG.standard_normal(np.shape(w)).astype(np.float32) for w in ours.get_weights()]
    weights[-1] = np.abs(weights[-1]) + 0.5  # a valid moving variance
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def _fused_ops(layer, x, training) -> set[str]:
    graph = tf.function(lambda v: layer(v, training=training)).get_concrete_function(
        tf.TensorSpec(x.shape, tf.float32)).graph
    return {op.type for op in graph.get_operations() if "FusedBatchNorm" in op.type}


def test_training_pass_matches_numpy_formula_and_uses_the_fused_kernel() -> None:
    x = (2.0 + 3.0 * RNG.standard_normal((4, 5, 6, 3))).astype(np.float32)
    layer, _ = _pair(x.shape, momentum=0.9, epsilon=1e-3)
    gamma, beta, mean0, var0 = (np.asarray(w, np.float64) for w in layer.get_weights())
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    mean, var = x.mean(axis=(0, 1, 2), dtype=np.float64), x.var(axis=(0, 1, 2), dtype=np.float64)
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), 0.9 * mean0 + 0.1 * mean, rtol=1e-5)
    # The biased variance (the kernel itself returns n / (n - 1) times it).
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), 0.9 * var0 + 0.1 * var, rtol=1e-5)
    assert _fused_ops(layer, x, training=True) == {"FusedBatchNormV3"}


@pytest.mark.parametrize("shape, fused", [((3, 6, 7, 4), True), ((3, 9, 5), False), ((6, 4), False)])
def test_outputs_gradients_and_moving_statistics_equal_keras(shape, fused) -> None:
    x = tf.constant((1.5 + 2.0 * RNG.standard_normal(shape)).astype(np.float32))
    target = tf.constant(RNG.standard_normal(shape).astype(np.float32))
    ours, theirs = _pair(shape, momentum=0.8)

    def run(layer):
        out = []
        for _ in range(3):  # three steps: the moving statistics accumulate
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * target)
            out = [y, *tape.gradient(loss, [x, *layer.trainable_weights])]
        return out + [layer.moving_mean, layer.moving_variance, layer(x, training=False)]

    for a, b in zip(run(ours), run(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=2e-5)
    assert bool(_fused_ops(ours, x, training=True)) is fused


def test_inference_and_synchronized_take_keras_path() -> None:
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    layer, _ = _pair(x.shape)
    assert _fused_ops(layer, x, training=False) == set()
    synchronized, _ = _pair(x.shape, synchronized=True)
    assert _fused_ops(synchronized, x, training=True) == set()


def test_without_scale_and_centre_matches_keras() -> None:
    x = tf.constant(RNG.standard_normal((2, 3, 4, 5)).astype(np.float32))
    ours, theirs = _pair(x.shape, scale=False, center=False)
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.moving_variance, theirs.moving_variance, rtol=1e-5)


def test_mixed_precision_keeps_the_policy_dtype() -> None:
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float16)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        ours, theirs = _pair(x.shape)
        y, want = ours(x, training=True), theirs(x, training=True)
    finally:
        keras.config.set_dtype_policy(policy)
    assert y.dtype == tf.float16
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(want, np.float32), atol=2e-3)
    assert ours.moving_mean.dtype == "float32"
