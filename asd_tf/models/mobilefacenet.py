"""MobileFaceNet: the embedding network of STgram-MFN, TASTgram, FGASpecNet and Neri & Carli.

Chen et al., "MobileFaceNets", CCBR 2018, as configured by STgram-MFN (Liu et
al., ICASSP 2022) for ``[channels x 128 mels x 313 frames]`` inputs:

====================  =====================================  =================
stem                  Conv 3x3 / 2, 64, BN, PReLU
depthwise             DWConv 3x3 / 1, 64, BN, PReLU
bottlenecks (t,c,n,s) (2,128,2,2), (4,128,2,2), (4,128,2,2)   inverted residual
expand                Conv 1x1, 512, BN, PReLU
global depthwise      DWConv (H x W) over the whole map, BN    "linear GDConv"
linear                Conv 1x1, 128, BN                        -> embedding
====================  =====================================  =================

With four stride-2 stages a 313 x 128 map ends as 20 x 8 (the ``(8, 20)``
global depthwise kernel of STgram-MFN). Convolutions carry no bias (every one
is followed by BN, as in the MobileFaceNets paper); PReLU slopes are per
channel and start at 0.25. ``separable_stem=True`` replaces the only full 3x3
convolution by a depthwise-separable one (an option for Neri & Carli's
"separable convolutions"; their reported 882 k/884 k parameters match a
standard stem with a separable Wavegram, so it is off by default).

This module only holds the layer-building helpers and
:func:`mobilefacenet`, which applies the network to a Keras tensor inside a
functional model (so every sub-layer is a plain, serialisable Keras layer).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..errors import ConfigError

#: (expansion t, output channels c, repeats n, first stride s) of STgram-MFN.
MOBILEFACENET_BOTTLENECKS: tuple[tuple[int, int, int, int], ...] = ((2, 128, 2, 2), (4, 128, 2, 2), (4, 128, 2, 2))

# PyTorch BatchNorm defaults (momentum 0.1 == Keras 0.9, eps 1e-5), as in the papers' code.
_BN = {"momentum": 0.9, "epsilon": 1e-5}


def _conv_block(
    x,
    filters: int,
    kernel_size,
    strides: int,
    name: str,
    depthwise: bool = False,
    separable: bool = False,
    linear: bool = False,
    global_kernel: bool = False,
):
    """Conv (or depthwise / separable conv) -> BN -> PReLU (no PReLU when ``linear``)."""
    if global_kernel:
        padding = "valid"  # the kernel covers the whole map: no padding
    elif strides > 1:
        # Symmetric zero padding of 1 as in PyTorch (Keras "same" pads only at the end for even sizes).
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel_size, strides, padding=padding, use_bias=False, name=f"{name}_dwconv")(x)
    elif separable:
        x = keras.layers.SeparableConv2D(
            filters, kernel_size, strides, padding=padding, use_bias=False, name=f"{name}_sepconv"
        )(x)
    else:
        x = keras.layers.Conv2D(filters, kernel_size, strides, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=f"{name}_bn")(x)
    if not linear:
        x = keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)
    return x


def _bottleneck(x, filters: int, strides: int, expansion: int, name: str):
    """Inverted residual: 1x1 expand, 3x3 depthwise (stride), linear 1x1 project; skip when shapes match."""
    in_channels = x.shape[-1]
    y = _conv_block(x, in_channels * expansion, 1, 1, f"{name}_expand")
    y = _conv_block(y, in_channels * expansion, 3, strides, f"{name}_depthwise", depthwise=True)
    y = _conv_block(y, filters, 1, 1, f"{name}_project", linear=True)
    if strides == 1 and in_channels == filters:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def mobilefacenet(
    x,
    embedding_dim: int = 128,
    stem_channels: int = 64,
    bottlenecks: Sequence[Sequence[int]] = MOBILEFACENET_BOTTLENECKS,
    expand_channels: int = 512,
    separable_stem: bool = False,
    dropout: float = 0.0,
    name: str = "mfn",
):
    """Apply MobileFaceNet to a channels-last Keras tensor ``[batch, time, freq, channels]``.

    Args:
        x: input tensor with known spatial sizes (the global depthwise kernel covers them).
        embedding_dim: size of the output embedding (128 in all four papers).
        stem_channels: channels of the stem and first depthwise conv (64).
        bottlenecks: ``(t, c, n, s)`` rows, see :data:`MOBILEFACENET_BOTTLENECKS`.
        expand_channels: channels of the 1x1 conv before the global depthwise conv (512).
        separable_stem: make the stem a depthwise-separable 3x3 convolution.
        dropout: dropout rate before the final linear 1x1 conv (0: none; the papers use none).
        name: prefix of all layer names.

    Returns:
        ``[batch, embedding_dim]`` embedding (output of the linear 1x1 conv + BN, flattened).
    """
    if x.shape[1] is None or x.shape[2] is None:
        raise ConfigError("MobileFaceNet needs known time and frequency sizes for its global depthwise conv")
    x = _conv_block(x, stem_channels, 3, 2, f"{name}_stem", separable=separable_stem)
    x = _conv_block(x, stem_channels, 3, 1, f"{name}_stem_dw", depthwise=True)
    for stage, row in enumerate(bottlenecks):
        expansion, channels, repeats, stride = (int(v) for v in row)
        for i in range(repeats):
            x = _bottleneck(x, channels, stride if i == 0 else 1, expansion, f"{name}_b{stage}_{i}")
    x = _conv_block(x, expand_channels, 1, 1, f"{name}_expand")
    # Global depthwise conv: one kernel over the whole remaining map ("linear GDConv").
    x = _conv_block(
        x, expand_channels, (x.shape[1], x.shape[2]), 1, f"{name}_gdconv", depthwise=True, linear=True, global_kernel=True
    )
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = _conv_block(x, embedding_dim, 1, 1, f"{name}_linear", linear=True)
    return keras.layers.Flatten(name=f"{name}_embedding")(x)  # [batch, embedding_dim]
