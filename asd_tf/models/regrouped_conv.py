"""A stride-1 2-D convolution over few input channels whose input gradient runs on regrouped columns.

The reference model's spectrogram stem, after space to depth
(:mod:`asd_tf.models.space_to_depth`), is a stride-1 ``"valid"`` 4 x 4
convolution from 4 to 16 channels. Its forward pass and kernel gradient suit
CPU convolution kernels; its input gradient (needed because the per-bin batch
normalisation before the stem has weights) is a convolution with only 4 output
channels, a quarter of a 16-float vector register, and oneDNN ran it at a third
of the forward pass's rate (``docs/training_step_profile.md``).

The input gradient ``dx[b, h, w, p] = sum_{i, j, c} dy[b, h - i, w - j, c] k[i, j, p, c]``
(``0 <= h - i < H_out``, ``0 <= w - j < W_out``) is computed here as a forward
convolution with ``R`` times as many output channels: the columns of ``dx`` are
taken ``R`` at a time, ``w = R X + q`` (``R = 16 / C`` for ``C`` input channels),
so that ``dx`` regrouped to ``[B, H_in, W_in / R, R C]`` (a reshape of a
channels-last tensor) is the convolution of ``dy`` with stride ``R`` along the
columns and kernel ``kh x (D + 1) R``, ``D = ceil((kw - 1) / R)``:

``K'[a, d R + r, c, (q, p)] = k[kh - 1 - a, q - r + R (D - d), p, c]`` where that
column index lies in ``[0, kw)``, else 0,

over ``dy`` padded with ``kh - 1`` zero rows above and below, ``D R`` zero
columns before, and after up to a whole number of groups (on TensorFlow the
convolution's own explicit padding, so no padded copy of ``dy`` is made). Every
product of the plain input gradient appears once (the others multiply a zero of
``K'``), so the result equals it up to the order of the float sums; the zeros of
``K'`` double the multiply-adds (for the stem, 4 x 8 x 16 x 16 per output group
against 4 x 4 x 16 x 4 x 4), and the gain comes from the kernel's full-width
vectors.

:func:`few_channel_conv2d` is ``keras.ops.conv(x, kernel, padding="valid")``
whose gradient uses this on backends listed in :data:`_REGROUPED_GRADIENT`
(TensorFlow); elsewhere (JAX, where XLA chooses its own algorithm; PyTorch) it
is the plain convolution. ``tests/test_regrouped_conv.py`` checks the gradient
against a NumPy transposed convolution and against automatic differentiation
of the plain convolution.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
from keras import ops

__all__ = ["regroup_factor", "regrouped_input_gradient", "few_channel_conv2d"]

#: Output channels the regrouped input gradient aims for: one AVX-512 register of float32.
_VECTOR_WIDTH = 16


def regroup_factor(channels: int) -> int:
    """Columns per group ``R`` for a convolution over ``channels`` input channels (1: no regrouping)."""
    if channels >= _VECTOR_WIDTH or _VECTOR_WIDTH % channels:
        return 1
    return _VECTOR_WIDTH // channels


def _reach(kw: int, group: int) -> int:
    """``D = ceil((kw - 1) / R)``: how many groups before its own an output group's window reaches."""
    return -(-(kw - 1) // group)


def _regrouped_kernel(kernel: Any, group: int) -> Any:
    """``K'`` of the module docstring with its two column axes merged: ``[kh, kw, C, O] -> [kh, (D + 1) R, O, R C]``.

    Kernel column ``d R + r`` reads output-gradient column ``R (X - D + d) + r`` for output group ``X``.
    """
    kh, kw, channels, filters = (int(d) for d in kernel.shape)
    reach = _reach(kw, group)
    a = np.arange(kh)[:, None, None, None]
    d = np.arange(reach + 1)[None, :, None, None]
    r = np.arange(group)[None, None, :, None]
    q = np.arange(group)[None, None, None, :]
    column = q - r + group * (reach - d)
    valid = (column >= 0) & (column < kw)
    # Flat tap index into the kernel's kh * kw taps; an extra all-zero tap stands for "no product".
    tap = np.where(valid, (kh - 1 - a) * kw + np.clip(column, 0, kw - 1), kh * kw)
    taps = ops.concatenate(
        [ops.reshape(kernel, [kh * kw, channels, filters]), ops.zeros([1, channels, filters], dtype=kernel.dtype)], axis=0
    )
    gathered = ops.take(taps, tap.reshape(-1), axis=0)  # [kh (D+1) R R, C, O]
    gathered = ops.reshape(gathered, [kh, reach + 1, group, group, channels, filters])
    # -> [a, (d, r), c (= O), (q, p) (= C)]
    gathered = ops.transpose(gathered, [0, 1, 2, 5, 3, 4])
    return ops.reshape(gathered, [kh, (reach + 1) * group, filters, group * channels])


def _plan(dy_shape: tuple[int, ...], kernel_shape: tuple[int, ...], input_size: tuple[int, int], group: int):
    """``((rows before, after), (columns before, after))`` of the output gradient, and the groups ``W_in / R``."""
    kh, kw = (int(d) for d in kernel_shape[:2])
    h_out, w_out = int(dy_shape[1]), int(dy_shape[2])
    h_in, w_in = (int(n) for n in input_size)
    if (h_in, w_in) != (h_out + kh - 1, w_out + kw - 1):
        raise ValueError(
            f"regrouped_input_gradient: input size {(h_in, w_in)} does not match output {(h_out, w_out)} "
            f"and kernel {(kh, kw)} of a stride-1 'valid' convolution"
        )
    groups_in = -(-w_in // group)
    # Output group X reads columns R (X - D) ... R (X + 1) - 1 of dy: D R zero columns before it, and
    # after it enough for the last group's window (R groups_in columns in all, past the D R before).
    return ((kh - 1, kh - 1), (_reach(kw, group) * group, groups_in * group - w_out)), groups_in


def _ungroup(dx: Any, input_size: tuple[int, int], groups_in: int, group: int, channels: int) -> Any:
    """``[B, H_in, W_in / R, R C] -> [B, H_in, W_in, C]`` (a reshape; the columns past ``W_in`` dropped)."""
    h_in, w_in = input_size
    dx = ops.reshape(dx, [-1, h_in, groups_in * group, channels])
    return dx if groups_in * group == w_in else dx[:, :, :w_in]


def regrouped_input_gradient(dy: Any, kernel: Any, input_size: tuple[int, int], group: int) -> Any:
    """Gradient of a stride-1 ``"valid"`` 2-D convolution with respect to its input (``keras.ops``).

    Computed as the module docstring says: ``dy`` padded, then a convolution with stride ``R``
    along the columns (each output position one group of ``R`` input columns).

    Shape:
        dy ``[B, H_out, W_out, O]``, kernel ``[kh, kw, C, O]``, input_size ``(H_in, W_in)`` with
        ``H_in = H_out + kh - 1`` and ``W_in = W_out + kw - 1`` -> ``[B, H_in, W_in, C]``.

    Example:
        >>> dy = keras.ops.ones((1, 3, 5, 2))
        >>> regrouped_input_gradient(dy, keras.ops.ones((2, 2, 1, 2)), (4, 6), 4).shape
        (1, 4, 6, 1)
    """
    (rows, columns), groups_in = _plan(tuple(dy.shape), tuple(kernel.shape), input_size, group)
    padded = ops.pad(dy, [[0, 0], list(rows), list(columns), [0, 0]])
    dx = ops.conv(padded, _regrouped_kernel(kernel, group), strides=(1, group), padding="valid")
    return _ungroup(dx, input_size, groups_in, group, int(kernel.shape[2]))


def _tensorflow_conv(x: Any, kernel: Any, group: int) -> Any:
    # Imported here: the module must import on backends without TensorFlow.
    import tensorflow as tf

    @tf.custom_gradient
    def conv(x, kernel):
        def gradient(dy):
            dkernel = tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(kernel), out_backprop=dy, strides=[1, 1, 1, 1], padding="VALID"
            )
            size = (int(x.shape[1]), int(x.shape[2]))
            (rows, columns), groups_in = _plan(tuple(dy.shape), tuple(kernel.shape), size, group)
            # As regrouped_input_gradient, with the zeros as the convolution's own padding: no padded copy of dy.
            dx = tf.nn.conv2d(dy, _regrouped_kernel(kernel, group), strides=[1, 1, group, 1],
                              padding=[[0, 0], list(rows), list(columns), [0, 0]])
            return _ungroup(dx, size, groups_in, group, int(kernel.shape[2])), dkernel

        return tf.nn.conv2d(x, kernel, strides=1, padding="VALID"), gradient

    return conv(x, kernel)


#: Keras backend name -> ``(x, kernel, R) -> y`` with the regrouped input gradient.
_REGROUPED_GRADIENT: dict[str, Callable[[Any, Any, int], Any]] = {
    "tensorflow": _tensorflow_conv,
}


def few_channel_conv2d(x: Any, kernel: Any) -> Any:
    """``keras.ops.conv(x, kernel, strides=1, padding="valid")``, input gradient regrouped where it helps.

    Shape:
        x ``[B, H, W, C]``, kernel ``[kh, kw, C, O]`` -> ``[B, H - kh + 1, W - kw + 1, O]``.
    """
    group = regroup_factor(int(kernel.shape[2]))
    native = _REGROUPED_GRADIENT.get(keras.backend.backend())
    if group == 1 or native is None or x.shape[1] is None or x.shape[2] is None:
        return ops.conv(x, kernel, strides=1, padding="valid")
    return native(x, kernel, group)
