"""Strided "same" convolutions computed as stride-1 convolutions on a space-to-depth input.

A convolution with stride ``s`` over few input channels (the reference model's
spectrogram stem: 1 channel, 7 x 7, stride 2; its spectrum branch: 1 channel,
kernel 256, stride 64, then 128 channels, kernel 64, stride 32) is a poor fit
for CPU convolution kernels, above all in the backward pass. The same numbers
come out of a stride-1 ``"valid"`` convolution on the input regrouped into
blocks of ``s`` positions (space to depth), with the kernel regrouped the same
way (Ridnik et al., "TResNet", WACV 2021, use the input half of this for their
stem; here the kernel is regrouped too, so the layer keeps the original weights):

* pad as ``"same"`` does (``p = max((ceil(n/s) - 1) s + k - n, 0)``, ``floor(p/2)``
  before), then ``e = (-floor(p/2)) mod s`` more zeros before, so that every
  output's window starts at a block boundary, and zeros after up to
  ``(ceil(n/s) - 1 + b) s`` positions, where ``b = ceil((k + e) / s)``;
* input ``[B, n', C] -> [B, n'/s, s C]`` (a reshape; in 2-D the two block axes
  are moved beside the channels);
* kernel ``[k, C, O]`` -> ``e`` zero taps before, zeros after up to ``b s`` taps,
  ``-> [b, s C, O]``;
* a stride-1 ``"valid"`` convolution gives ``[B, ceil(n/s), O]``.

Every product of the original convolution appears once; the added products
multiply a zero tap, so the output equals the strided convolution up to the
order of the float sums (checked against NumPy and ``keras.ops.conv`` in
``tests/test_space_to_depth.py``). The kernel variable keeps its shape and name,
so weights and checkpoints are interchangeable with ``keras.layers.Conv1D`` /
``Conv2D``. ``benchmarks/bench.py`` (section ``train``) measures what it gains.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from .regrouped_conv import few_channel_conv2d

__all__ = ["SpaceToDepthConv1D", "SpaceToDepthConv2D", "space_to_depth_conv"]


def _axis_plan(n: int, k: int, s: int) -> tuple[int, int, int, int]:
    """Per spatial axis: (pad before, pad after, kernel taps before, blocks per window)."""
    out = -(-n // s)
    pad_total = max((out - 1) * s + k - n, 0)
    before = pad_total // 2
    extra = (-before) % s
    blocks = -(-(k + extra) // s)
    after = (out - 1 + blocks) * s - n - (before + extra)
    return before + extra, after, extra, blocks


def space_to_depth_conv(inputs, kernel, strides):
    """``"same"`` convolution of ``inputs`` (channels last) with ``kernel`` at ``strides``, via space to depth.

    Shape:
        inputs ``[B, *spatial, C]``, kernel ``[*k, C, O]`` (as ``keras.ops.conv``),
        strides one int per spatial axis -> ``[B, *ceil(spatial / strides), O]``.
    """
    rank = len(strides)
    spatial = tuple(int(d) for d in inputs.shape[1:1 + rank])
    ksize = tuple(int(d) for d in kernel.shape[:rank])
    channels, filters = int(kernel.shape[rank]), int(kernel.shape[rank + 1])
    plans = [_axis_plan(n, k, s) for n, k, s in zip(spatial, ksize, strides)]
    x = ops.pad(inputs, [[0, 0]] + [[b, a] for b, a, _, _ in plans] + [[0, 0]])
    w = ops.pad(kernel, [[e, blocks * s - k - e] for (_, _, e, blocks), k, s in zip(plans, ksize, strides)] + [[0, 0], [0, 0]])
    grouped = [(n + b + a) // s for n, (b, a, _, _), s in zip(spatial, plans, strides)]
    # [B, g1, s1, g2, s2, C] -> [B, g1, g2, s1, s2, C]: the offsets within a block join the channels.
    x = ops.reshape(x, [-1] + [d for g, s in zip(grouped, strides) for d in (g, s)] + [channels])
    w = ops.reshape(w, [d for (_, _, _, blocks), s in zip(plans, strides) for d in (blocks, s)] + [channels, filters])
    if rank > 1:
        x = ops.transpose(x, [0] + [1 + 2 * i for i in range(rank)] + [2 + 2 * i for i in range(rank)] + [1 + 2 * rank])
        w = ops.transpose(w, [2 * i for i in range(rank)] + [1 + 2 * i for i in range(rank)] + [2 * rank, 2 * rank + 1])
    depth = channels * math.prod(strides)
    x = ops.reshape(x, [-1] + grouped + [depth])
    w = ops.reshape(w, [blocks for _, _, _, blocks in plans] + [depth, filters])
    if rank == 2:
        # Few channels (the stem: 4): its input gradient runs on regrouped columns (regrouped_conv.py).
        return few_channel_conv2d(x, w)
    return ops.conv(x, w, strides=1, padding="valid")


class _SpaceToDepthConv:
    """Mixin: a ``"same"``, channels-last, undilated strided convolution computed by :func:`space_to_depth_conv`."""

    def build(self, input_shape):
        # Checked here, not in __init__, so the constructor and config stay those of Conv1D / Conv2D.
        self._check_space_to_depth()
        super().build(input_shape)

    def _check_space_to_depth(self) -> None:
        if self.padding != "same" or self.data_format != "channels_last" or any(d != 1 for d in self.dilation_rate):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: space-to-depth needs padding='same', channels_last and no "
                f"dilation, got padding={self.padding!r}, data_format={self.data_format!r}, "
                f"dilation_rate={self.dilation_rate}"
            )
        if self.groups != 1:
            raise ValueError(f"{type(self).__name__} {self.name!r}: groups must be 1, got {self.groups}")

    def convolution_op(self, inputs, kernel):
        if all(s == 1 for s in self.strides):
            return super().convolution_op(inputs, kernel)
        return space_to_depth_conv(inputs, kernel, tuple(self.strides))


@keras.saving.register_keras_serializable(package="asd_tf")
class SpaceToDepthConv1D(_SpaceToDepthConv, keras.layers.Conv1D):
    """``keras.layers.Conv1D`` (``padding="same"``) whose strided pass runs as space to depth.

    Same constructor, weights and outputs (up to float summation order) as ``Conv1D``.

    Example:
        >>> layer = SpaceToDepthConv1D(8, 256, strides=64, padding="same", use_bias=False)
        >>> layer(keras.ops.zeros((2, 80000, 1))).shape
        (2, 1250, 8)
    """


@keras.saving.register_keras_serializable(package="asd_tf")
class SpaceToDepthConv2D(_SpaceToDepthConv, keras.layers.Conv2D):
    """``keras.layers.Conv2D`` (``padding="same"``) whose strided pass runs as space to depth.

    Same constructor, weights and outputs (up to float summation order) as ``Conv2D``.
    """
