"""Theorem 6 (Wilkinghoff & Kurth): the sub-cluster AdaCos gradient is a weighted
sum of intra-class (Eq. 16) and inter-class (Eq. 17) compactness-loss gradients."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import loss_reference as ref  # noqa: E402
from asd_tf.losses import build_loss  # noqa: E402

B, D, N = 6, 10, 4


@pytest.mark.parametrize("name,m", [("subcluster_adacos", 3), ("subcluster_adacos", 1), ("adacos", 1)])
@pytest.mark.parametrize("mixup", [False, True])
def test_gradient_equals_weighted_compactness_gradients(name, m, mixup):
    rng = np.random.default_rng(11)
    params = {"num_subclusters": m} if name == "subcluster_adacos" else {}
    layer = build_loss(name, N, D, **params)
    layer.scale.assign(6.0)  # fixed scale, no update (training=False)
    e = rng.standard_normal((B, D)) * 2.0  # raw, un-normalised embeddings
    y1 = rng.integers(0, N, B).astype(np.int32)
    if mixup:
        y2 = rng.integers(0, N, B).astype(np.int32)
        lam = rng.uniform(size=B).astype(np.float32)
        t = ref.targets(y1, N, y2, lam)
    else:
        y2 = lam = None
        t = ref.onehot(y1, N)
    x = tf.Variable(e.astype(np.float32))
    with tf.GradientTape() as tape:
        # sum of per-sample losses: row b of the gradient is sample b's own gradient
        loss = tf.reduce_sum(layer(x, y1, y2, lam, training=False))
    grad = tape.gradient(loss, x).numpy()
    expected = ref.theorem6_gradient(e, layer.centres.numpy().astype(np.float64), t, 6.0, m)
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-5)
    assert float(layer.scale.numpy()) == 6.0


def test_reference_expression_is_sensitive_to_the_scale():
    # the Eqs. 16-17 check can fail: a wrong scale in the expression gives a different gradient
    rng = np.random.default_rng(2)
    e = rng.standard_normal((B, D))
    layer = build_loss("subcluster_adacos", N, D, num_subclusters=2)
    c = layer.centres.numpy().astype(np.float64)
    t = ref.onehot(rng.integers(0, N, B), N)
    assert not np.allclose(ref.theorem6_gradient(e, c, t, 6.0, 2), ref.theorem6_gradient(e, c, t, 5.0, 2), rtol=1e-2)
