"""Shared building blocks for bias-free embedding networks.

Wilkinghoff & Kurth (TASLP 2024, Secs. II and IV-B) train without bias terms,
without bounded activations and with L2 weight decay, because bias terms let a
network reach a constant (trivial) embedding. Every helper here therefore
builds Conv/Dense layers with ``use_bias=False`` and an L2 kernel regulariser;
BatchNormalization keeps its offset (beta), as in the reference system.

The helpers add standard Keras layers to a functional graph (no custom
sub-layer containers), so saved models load with ``safe_mode=True`` and every
layer shows up in ``model.summary()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import keras

from .batch_norm import BatchNormalization
from .space_to_depth import SpaceToDepthConv1D, SpaceToDepthConv2D


@dataclass(frozen=True)
class LayerFactory:
    """Make bias-free, L2-regularised layers with consistent settings.

    Args:
        weight_decay: L2 factor on every kernel (1e-5 in the reference system);
            0 disables the regulariser.
        synchronized_bn: pass ``synchronized=True`` to BatchNormalization so
            batch statistics are reduced over all replicas (multi-GPU training).
    """

    weight_decay: float = 1e-5
    synchronized_bn: bool = False

    def regularizer(self):
        """The kernel regulariser: ``keras.regularizers.L2(weight_decay)`` or None when 0."""
        return keras.regularizers.L2(self.weight_decay) if self.weight_decay > 0 else None

    def conv1d(self, filters: int, kernel_size: int, strides: int = 1, padding: str = "same", name: str | None = None,
               space_to_depth: bool = False):
        """Bias-free ``Conv1D``; ``space_to_depth=True``: the same convolution as :class:`SpaceToDepthConv1D`."""
        layer = SpaceToDepthConv1D if space_to_depth else keras.layers.Conv1D
        return layer(
            filters, kernel_size, strides=strides, padding=padding, use_bias=False,
            kernel_regularizer=self.regularizer(), name=name,
        )

    def conv2d(self, filters: int, kernel_size, strides=1, padding: str = "same", name: str | None = None,
               space_to_depth: bool = False):
        """Bias-free ``Conv2D``; ``space_to_depth=True``: the same convolution as :class:`SpaceToDepthConv2D`."""
        layer = SpaceToDepthConv2D if space_to_depth else keras.layers.Conv2D
        return layer(
            filters, kernel_size, strides=strides, padding=padding, use_bias=False,
            kernel_regularizer=self.regularizer(), name=name,
        )

    def dense(self, units: int, name: str | None = None):
        return keras.layers.Dense(units, use_bias=False, kernel_regularizer=self.regularizer(), name=name)

    def batch_norm(self, axis: int = -1, name: str | None = None):
        return BatchNormalization(axis=axis, synchronized=self.synchronized_bn, name=name)


def preact_residual_block(x, filters: int, factory: LayerFactory, *, downsample: bool = False, name: str = "block"):
    """One pre-activation residual block (He et al., 2016), bias-free.

    ``h = BN(x)``; residual ``r = Conv3x3(ReLU(BN(Conv3x3_s(ReLU(h)))))`` with
    stride ``s = 2`` when ``downsample``; output ``shortcut(h) + r`` where the
    shortcut is the identity, or, when downsampling or changing the channel
    count, a 2x2 max-pool (``padding="same"``, so odd sizes round up like the
    strided convolution) followed by a 1x1 convolution.

    The shortcut takes the normalised input ``h``, following the data flow of
    the reference system's public code; its misplaced BatchNorm in the first
    block (docs/design.md, "The reference system": not copied from the public code) is not
    reproduced: every block uses the order BN -> ReLU -> conv -> BN -> ReLU -> conv.

    Args:
        x: feature map ``[batch, time, freq, channels]``.
        filters: output channels.
        factory: layer settings (weight decay, synchronized BN).
        downsample: halve time and frequency.
        name: prefix of the created layer names.

    Returns:
        ``[batch, ceil(time / s), ceil(freq / s), filters]``.
    """
    strides = 2 if downsample else 1
    h = factory.batch_norm(name=f"{name}_bn0")(x)
    r = keras.layers.ReLU(name=f"{name}_relu0")(h)
    r = factory.conv2d(filters, 3, strides=strides, name=f"{name}_conv1")(r)
    r = factory.batch_norm(name=f"{name}_bn1")(r)
    r = keras.layers.ReLU(name=f"{name}_relu1")(r)
    r = factory.conv2d(filters, 3, name=f"{name}_conv2")(r)
    shortcut = h
    if downsample:
        shortcut = keras.layers.MaxPooling2D((2, 2), padding="same", name=f"{name}_pool")(shortcut)
    if downsample or x.shape[-1] != filters:
        shortcut = factory.conv2d(filters, 1, name=f"{name}_proj")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([shortcut, r])


def residual_stages(
    x, channels: Sequence[int], factory: LayerFactory, *, blocks_per_stage: int = 2, name: str = "stage"
):
    """Stack residual stages; every stage but the first starts by downsampling by 2.

    Reference system: four stages of two blocks with 16, 32, 64, 128 channels.
    """
    for stage, filters in enumerate(channels, start=1):
        for block in range(1, blocks_per_stage + 1):
            x = preact_residual_block(
                x, filters, factory, downsample=(stage > 1 and block == 1), name=f"{name}{stage}_block{block}"
            )
    return x
