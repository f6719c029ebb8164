"""Within-batch mixup (asd_tf.losses.mixup)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from asd_tf.errors import ConfigError  # noqa: E402
from asd_tf.losses.mixup import MixupConfig, mixup_batch  # noqa: E402


def recover_partner(x_mix, lam, batch):
    """With x[i] = i (constant rows), x_mix = lam*i + (1-lam)*j -> j."""
    i = np.arange(batch)
    lam = lam.astype(np.float64)
    ok = lam < 0.999
    j = np.full(batch, -1.0)
    j[ok] = (x_mix[ok] - lam[ok] * i[ok]) / (1 - lam[ok])
    return j, ok


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_pairs_are_a_permutation_and_mixing_is_linear(shape):
    batch = 16
    x = np.broadcast_to(np.arange(batch, dtype=np.float32).reshape((batch,) + (1,) * len(shape)), (batch,) + shape)
    y = (np.arange(batch) * 7 % 5).astype(np.int32)
    x_mix, y1, y2, lam = mixup_batch(x, y, MixupConfig(), tf.random.Generator.from_seed(3))
    assert x_mix.shape == (batch,) + shape and lam.shape == (batch,) and lam.dtype == tf.float32
    x_mix, y1, y2, lam = x_mix.numpy(), y1.numpy(), y2.numpy(), lam.numpy()
    np.testing.assert_array_equal(y1, y)
    flat = x_mix.reshape(batch, -1)
    assert np.allclose(flat, flat[:, :1])  # lam broadcast over trailing axes
    j, ok = recover_partner(flat[:, 0], lam, batch)
    partners = np.rint(j[ok]).astype(int)
    np.testing.assert_allclose(j[ok], partners, atol=1e-2)
    np.testing.assert_array_equal(y2[ok], y[partners])
    assert len(set(partners)) == len(partners)  # each sample used once as partner


def test_lambda_distributions():
    x = np.zeros((4000, 1), np.float32)
    y = np.zeros(4000, np.int32)
    rng = tf.random.Generator.from_seed(0)
    lam_u = mixup_batch(x, y, MixupConfig(alpha=None), rng)[3].numpy()
    lam_b = mixup_batch(x, y, MixupConfig(alpha=0.5), rng)[3].numpy()
    # U(0, 1): mean 1/2, var 1/12; Beta(0.5, 0.5): mean 1/2, var 1/8 (arcsine, mass at the ends)
    assert abs(lam_u.mean() - 0.5) < 0.03 and abs(lam_u.var() - 1 / 12) < 0.01
    assert abs(lam_b.mean() - 0.5) < 0.03 and abs(lam_b.var() - 1 / 8) < 0.01
    assert np.mean(lam_b < 0.1) > 0.15  # P(lam < 0.1) = 0.205 for the arcsine law
    assert lam_u.min() >= 0 and lam_u.max() <= 1 and lam_b.min() >= 0 and lam_b.max() <= 1


def test_probability_per_batch():
    x = np.arange(8, dtype=np.float32).reshape(8, 1)
    y = np.arange(8, dtype=np.int32)
    rng = tf.random.Generator.from_seed(5)
    never = mixup_batch(x, y, MixupConfig(prob=0.0), rng)
    np.testing.assert_array_equal(never[0].numpy(), x)
    np.testing.assert_array_equal(never[2].numpy(), y)
    np.testing.assert_array_equal(never[3].numpy(), np.ones(8))
    mixed = [not np.all(mixup_batch(x, y, MixupConfig(prob=0.5), rng)[3].numpy() == 1) for _ in range(200)]
    assert 0.38 < np.mean(mixed) < 0.62


def test_inside_tf_function_differs_per_call():
    rng = tf.random.Generator.from_seed(1)
    config = MixupConfig(alpha=0.5)

    @tf.function
    def step(x, y):
        return mixup_batch(x, y, config, rng)

    x = tf.random.stateless_normal([6, 3], seed=[1, 2])
    y = tf.range(6)
    a, b = step(x, y), step(x, y)
    assert not np.allclose(a[3].numpy(), b[3].numpy())
    lam = a[3].numpy()[:, None]
    partner = x.numpy()[np.argmax((y.numpy()[None, :] == a[2].numpy()[:, None]), axis=1)]
    np.testing.assert_allclose(a[0].numpy(), lam * x.numpy() + (1 - lam) * partner, atol=1e-5)


def test_seed_int_reproducible_and_config_validation():
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    y = np.arange(5, dtype=np.int32)
    a = mixup_batch(x, y, MixupConfig(), 42)
    b = mixup_batch(x, y, MixupConfig(), 42)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    with pytest.raises(ConfigError):
        MixupConfig(prob=1.5)
    with pytest.raises(ConfigError):
        MixupConfig(alpha=0.0)
