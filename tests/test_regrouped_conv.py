"""The regrouped input gradient equals the input gradient of the plain convolution.

References: a NumPy transposed convolution in float64 (``dx[:, i:i+H_out, j:j+W_out] += dy k[i, j]^T``
for every tap), and TensorFlow's automatic differentiation of ``tf.nn.conv2d`` (input and kernel).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from asd_tf.models.regrouped_conv import few_channel_conv2d, regroup_factor, regrouped_input_gradient  # noqa: E402

RNG = np.random.default_rng(0)


def numpy_input_gradient(dy: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``d/dx`` of the stride-1 "valid" cross-correlation, given ``dy``: a transposed convolution."""
    kh, kw, channels, _ = kernel.shape
    batch, h_out, w_out, _ = dy.shape
    dx = np.zeros((batch, h_out + kh - 1, w_out + kw - 1, channels))
    for i in range(kh):
        for j in range(kw):
            dx[:, i:i + h_out, j:j + w_out] += dy.astype(np.float64) @ kernel[i, j].astype(np.float64).T
    return dx


CASES = [  # (kh, kw, C, O, H_out, W_out)
    (4, 4, 4, 16, 5, 9),  # the stem after space to depth (R = 4, D = 1), input width 12 = 3 groups
    (4, 4, 4, 16, 6, 10),  # input width 13: the last group is cut
    (3, 5, 2, 3, 4, 7),  # R = 8 > kw
    (2, 9, 4, 2, 3, 6),  # kw > R: D = 2
    (1, 1, 1, 5, 2, 3),  # R = 16, D = 0
    (2, 3, 8, 4, 3, 3),  # R = 2
]


@pytest.mark.parametrize("kh, kw, c, o, h_out, w_out", CASES)
def test_regrouped_input_gradient_equals_numpy_transposed_convolution(kh, kw, c, o, h_out, w_out) -> None:
    dy = RNG.standard_normal((2, h_out, w_out, o)).astype(np.float32)
    kernel = RNG.standard_normal((kh, kw, c, o)).astype(np.float32)
    got = regrouped_input_gradient(dy, kernel, (h_out + kh - 1, w_out + kw - 1), regroup_factor(c))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), numpy_input_gradient(dy, kernel), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kh, kw, c, o, h_out, w_out", CASES[:4])
def test_few_channel_conv2d_gradients_equal_autodiff_of_plain_conv(kh, kw, c, o, h_out, w_out) -> None:
    x = tf.constant(RNG.standard_normal((3, h_out + kh - 1, w_out + kw - 1, c)).astype(np.float32))
    kernel = tf.constant(RNG.standard_normal((kh, kw, c, o)).astype(np.float32))
    upstream = tf.constant(RNG.standard_normal((3, h_out, w_out, o)).astype(np.float32))
    results = []
    for conv in (few_channel_conv2d, lambda a, b: tf.nn.conv2d(a, b, strides=1, padding="VALID")):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = conv(x, kernel)
            loss = tf.reduce_sum(y * upstream)
        results.append([y.numpy(), *(g.numpy() for g in tape.gradient(loss, [x, kernel]))])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_regroup_factor_fills_a_16_float_register() -> None:
    assert [regroup_factor(c) for c in (1, 2, 4, 8, 16, 3, 32)] == [16, 8, 4, 2, 1, 1, 1]


def test_size_mismatch_names_both_sizes() -> None:
    with pytest.raises(ValueError, match=r"input size \(9, 9\).*\(5, 9\)"):
        regrouped_input_gradient(np.zeros((1, 5, 9, 2), np.float32), np.zeros((4, 4, 4, 2), np.float32), (9, 9), 4)
