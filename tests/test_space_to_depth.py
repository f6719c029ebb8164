"""Space-to-depth strided convolutions equal the strided "same" convolution they replace.

References: a direct NumPy convolution (TensorFlow's "same" convention: ``p = max((ceil(n/s) - 1) s
+ k - n, 0)`` zeros, ``floor(p/2)`` of them before), and Keras's own ``Conv1D`` / ``Conv2D``
with the same kernel (outputs and gradients).
"""

from __future__ import annotations

import itertools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from asd_tf.models.space_to_depth import SpaceToDepthConv1D, SpaceToDepthConv2D, space_to_depth_conv  # noqa: E402


def numpy_same_conv(x: np.ndarray, w: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    """Cross-correlation of ``x [B, *n, C]`` with ``w [*k, C, O]``, "same" padding, in float64."""
    spatial, ksize = x.shape[1:-1], w.shape[:-2]
    outs = [-(-n // s) for n, s in zip(spatial, strides)]
    pads = [max((o - 1) * s + k - n, 0) for o, s, k, n in zip(outs, strides, ksize, spatial)]
    xp = np.pad(x.astype(np.float64), [(0, 0)] + [(p // 2, p - p // 2) for p in pads] + [(0, 0)])
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for index in itertools.product(*[range(o) for o in outs]):
        window = tuple(slice(i * s, i * s + k) for i, s, k in zip(index, strides, ksize))
        patch = xp[(slice(None), *window, slice(None))]
        y[(slice(None), *index, slice(None))] = np.tensordot(patch, w, axes=(list(range(1, x.ndim)), list(range(w.ndim - 1))))
    return y


RNG = np.random.default_rng(0)

CASES_1D = [  # (n, k, s, C, O): the reference stem shape in small, odd lengths, k < s, k a multiple of s
    (80, 16, 4, 1, 3), (37, 7, 2, 2, 2), (13, 2, 5, 1, 2), (64, 8, 8, 3, 2), (9, 9, 3, 1, 1),
]
CASES_2D = [  # ((h, w), (kh, kw), (sh, sw), C, O)
    ((31, 51), (7, 7), (2, 2), 1, 4), ((9, 10), (3, 3), (2, 2), 3, 2), ((8, 11), (5, 2), (3, 2), 2, 3),
]


@pytest.mark.parametrize("n, k, s, c, o", CASES_1D)
def test_space_to_depth_conv_1d_equals_numpy_and_keras(n, k, s, c, o) -> None:
    x = RNG.standard_normal((2, n, c)).astype(np.float32)
    w = RNG.standard_normal((k, c, o)).astype(np.float32)
    got = keras.ops.convert_to_numpy(space_to_depth_conv(x, w, (s,)))
    np.testing.assert_allclose(got, numpy_same_conv(x, w, (s,)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(keras.ops.conv(x, w, strides=s, padding="same")),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n, k, s, c, o", CASES_2D)
def test_space_to_depth_conv_2d_equals_numpy(n, k, s, c, o) -> None:
    x = RNG.standard_normal((2, *n, c)).astype(np.float32)
    w = RNG.standard_normal((*k, c, o)).astype(np.float32)
    got = keras.ops.convert_to_numpy(space_to_depth_conv(x, w, s))
    np.testing.assert_allclose(got, numpy_same_conv(x, w, s), rtol=1e-5, atol=1e-5)


def test_layer_outputs_and_gradients_equal_keras_conv2d() -> None:
    # The reference stem in small: 1 input channel, 7 x 7, stride 2, on an odd-sized map.
    x = tf.constant(RNG.standard_normal((3, 21, 33, 1)).astype(np.float32))
    ours = SpaceToDepthConv2D(5, 7, strides=2, padding="same", use_bias=False)
    theirs = keras.layers.Conv2D(5, 7, strides=2, padding="same", use_bias=False)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    assert ours.kernel.shape == theirs.kernel.shape == (7, 7, 1, 5)
    target = tf.constant(RNG.standard_normal((3, 11, 17, 5)).astype(np.float32))

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * target)
        return [y, *tape.gradient(loss, [x, layer.kernel])]

    for a, b in zip(grads(ours), grads(theirs)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-4)


def test_stride_one_is_the_plain_convolution() -> None:
    x = RNG.standard_normal((2, 9, 3)).astype(np.float32)
    layer = SpaceToDepthConv1D(2, 3, padding="same", use_bias=False)
    layer.build(x.shape)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)),
                               numpy_same_conv(x, keras.ops.convert_to_numpy(layer.kernel), (1,)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, word", [
    ({"padding": "valid"}, "padding='valid'"),
    ({"padding": "same", "dilation_rate": 2, "strides": 1}, "dilation_rate"),
    ({"padding": "same", "data_format": "channels_first"}, "channels_first"),
])
def test_unsupported_settings_name_the_layer_and_setting(kwargs, word) -> None:
    layer = SpaceToDepthConv2D(2, 3, **{"strides": 2, **kwargs}, name="stem")
    with pytest.raises(ValueError, match="'stem'") as error:
        layer.build((None, 8, 8, 1))
    assert word in str(error.value)
