"""The reference dual-branch embedding model (spectrum + spectrogram CNN).

Wilkinghoff & Kurth, TASLP 2024, Sec. IV-B, using the system of Wilkinghoff,
ICASSP 2023 ("Design choices for learning embeddings from auxiliary tasks for
domain generalization in anomalous sound detection"). Facts restated in
docs/design.md, "The reference system":

- input: the first 10 s of the waveform (160000 samples at 16 kHz);
- spectrum branch: ``|FFT|`` of the whole clip, first half of the bins ->
  Conv1D(128, 256, s=64) -> ReLU -> Conv1D(128, 64, s=32) -> ReLU ->
  Conv1D(128, 16, s=4) -> ReLU -> flatten -> 4 x [Dense 128, BN, ReLU] ->
  Dense 128. The paper states no normalisation of the spectrum input, and
  the public code has none, so there is none here;
- spectrogram branch: linear STFT magnitude (1024 / 512, no padding,
  311 x 513) -> temporal mean normalisation -> BN per frequency bin ->
  Conv2D(16, 7x7, s=2), BN, ReLU, MaxPool 3 s=2 -> four residual stages of two
  pre-activation blocks (16, 32, 64, 128 channels) -> MaxPool (10, 1) ->
  flatten -> BN -> Dense 128;
- embedding: concatenation of both branch outputs (256-d); no bias terms,
  ReLU (unbounded), L2 weight decay 1e-5 on all kernels.

All convolutions use ``padding="same"`` (public code), so the spectrum branch
maps 80000 bins to 1250 -> 40 -> 10 steps. The final (10, 1) max-pool is made
robust to short clips: its time size is ``min(10, frames)``, with ``"same"``
padding, so the model builds for any ``num_samples`` whose spectrogram
survives the stem (at least 5 frames); for 10 s clips it equals the paper's
(10, 1) pool over exactly 10 frames.

The model is ``embedder(frontend(waveform))``: ``frontend`` maps waveforms to
a dict of features, ``embedder`` maps that dict to the embedding. The temporal
mean normalisation is the embedder's first spectrogram operation, so RISE can
feed masked linear magnitude spectrograms straight into the embedder.
"""

from __future__ import annotations

from typing import Sequence

import keras

from ..errors import ConfigError
from ..features.normalization import TemporalMeanNormalization
from ..features.spectrum import FFTMagnitude
from ..features.stft import STFTMagnitude, spectrogram_shape
from .blocks import LayerFactory, residual_stages

BRANCHES: dict[str, tuple[str, ...]] = {
    "both": ("spectrum", "spectrogram"),
    "spectrum": ("spectrum",),
    "spectrogram": ("spectrogram",),
}

__all__ = [
    "BRANCHES",
    "build_reference_model",
    "build_reference_frontend",
    "build_reference_embedder",
    "branch_slices",
    "spectrogram_shape",
]


def _branch_names(branches: str) -> tuple[str, ...]:
    if branches not in BRANCHES:
        raise ConfigError(f"unknown branches {branches!r}; choose one of {', '.join(BRANCHES)}")
    return BRANCHES[branches]


def build_reference_frontend(
    num_samples: int = 160000, branches: str = "both", frame_length: int = 1024, frame_step: int = 512
) -> keras.Model:
    """Feature front-end: waveform ``[B, num_samples]`` -> dict of the selected features.

    ``"spectrum"``: ``|FFT|`` first half ``[B, num_samples // 2]``;
    ``"spectrogram"``: linear STFT magnitude ``[B, T, F]`` (see :func:`spectrogram_shape`).
    """
    names = _branch_names(branches)
    if int(num_samples) <= 0:
        raise ConfigError(f"num_samples must be positive, got {num_samples}")
    waveform = keras.Input((int(num_samples),), name="waveform")
    outputs = {}
    if "spectrum" in names:
        outputs["spectrum"] = FFTMagnitude(name="fft_magnitude")(waveform)
    if "spectrogram" in names:
        spectrogram_shape(int(num_samples), frame_length, frame_step)  # raises ConfigError if too short
        outputs["spectrogram"] = STFTMagnitude(frame_length, frame_step, pad_end=False, name="stft_magnitude")(waveform)
    return keras.Model(waveform, outputs, name="frontend")


def _spectrum_branch(x, factory: LayerFactory, filters: int, dense_units: int, branch_dim: int):
    """``[B, n_bins]`` -> ``[B, branch_dim]`` (three strided Conv1D, five Dense)."""
    x = keras.layers.Reshape((x.shape[-1], 1), name="spectrum_expand")(x)  # [B, n_bins, 1]
    for i, (kernel, stride) in enumerate(((256, 64), (64, 32), (16, 4)), start=1):
        x = factory.conv1d(filters, kernel, strides=stride, name=f"spectrum_conv{i}")(x)
        x = keras.layers.ReLU(name=f"spectrum_relu{i}")(x)
    x = keras.layers.Flatten(name="spectrum_flatten")(x)
    for i in range(1, 5):
        x = factory.dense(dense_units, name=f"spectrum_dense{i}")(x)
        x = factory.batch_norm(name=f"spectrum_dense{i}_bn")(x)
        x = keras.layers.ReLU(name=f"spectrum_dense{i}_relu")(x)
    return factory.dense(branch_dim, name="spectrum_embedding")(x)


def _spectrogram_branch(x, factory: LayerFactory, stage_channels: Sequence[int], branch_dim: int):
    """``[B, T, F]`` linear magnitudes -> ``[B, branch_dim]``."""
    frames, bins = x.shape[1], x.shape[2]
    stem_frames, stem_bins = -(-frames // 2), -(-bins // 2)  # after the stride-2 "same" conv
    if stem_frames < 3 or stem_bins < 3:
        raise ConfigError(
            f"spectrogram of {frames} frames x {bins} bins is too small for the reference stem "
            "(needs at least 5 frames and 5 bins); use longer clips or a shorter STFT hop/frame"
        )
    x = TemporalMeanNormalization(axis=1, name="temporal_mean_normalization")(x)
    # One BN per frequency bin (statistics over batch and time), as BN(axis=freq) in the reference.
    x = factory.batch_norm(axis=-1, name="spectrogram_frequency_bn")(x)
    x = keras.layers.Reshape((frames, bins, 1), name="spectrogram_expand")(x)  # [B, T, F, 1]
    # One input channel: its strided convolution and gradients run about twice as fast as space to depth
    # (the same numbers; docs/training_step_profile.md).
    x = factory.conv2d(stage_channels[0], 7, strides=2, name="spectrogram_stem_conv", space_to_depth=True)(x)
    x = factory.batch_norm(name="spectrogram_stem_bn")(x)
    x = keras.layers.ReLU(name="spectrogram_stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="spectrogram_stem_pool")(x)
    x = residual_stages(x, stage_channels, factory, name="spectrogram_stage")
    # Paper: MaxPool (10, 1). Cap the pool at the available frames so short clips still build.
    pool_frames = max(1, min(10, x.shape[1]))
    x = keras.layers.MaxPooling2D((pool_frames, 1), padding="same", name="spectrogram_time_pool")(x)
    x = keras.layers.Flatten(name="spectrogram_flatten")(x)
    x = factory.batch_norm(name="spectrogram_flatten_bn")(x)
    return factory.dense(branch_dim, name="spectrogram_embedding")(x)


def build_reference_embedder(
    feature_shapes: dict[str, tuple[int, ...]],
    *,
    stage_channels: Sequence[int] = (16, 32, 64, 128),
    spectrum_filters: int = 128,
    dense_units: int = 128,
    branch_dim: int = 128,
    weight_decay: float = 1e-5,
    synchronized_bn: bool = False,
) -> keras.Model:
    """Embedder: dict of features (shapes without batch) -> embedding ``[B, branch_dim * branches]``.

    ``feature_shapes`` has a subset of the keys ``"spectrum"`` (``(n_bins,)``)
    and ``"spectrogram"`` (``(T, F)``); the embedding concatenates the branch
    outputs in the order spectrum, spectrogram (as the public code does).
    """
    unknown = set(feature_shapes) - {"spectrum", "spectrogram"}
    if unknown or not feature_shapes:
        raise ConfigError(f"reference embedder features must be 'spectrum' and/or 'spectrogram', got {sorted(feature_shapes)}")
    if len(stage_channels) < 1 or min(stage_channels) <= 0:
        raise ConfigError(f"stage_channels must be positive channel counts, got {tuple(stage_channels)}")
    factory = LayerFactory(weight_decay=float(weight_decay), synchronized_bn=bool(synchronized_bn))
    inputs = {name: keras.Input(tuple(shape), name=name) for name, shape in feature_shapes.items()}
    embeddings = []
    if "spectrum" in inputs:
        embeddings.append(_spectrum_branch(inputs["spectrum"], factory, spectrum_filters, dense_units, branch_dim))
    if "spectrogram" in inputs:
        embeddings.append(_spectrogram_branch(inputs["spectrogram"], factory, tuple(stage_channels), branch_dim))
    if len(embeddings) > 1:
        embedding = keras.layers.Concatenate(axis=-1, name="embedding")(embeddings)
    else:
        embedding = keras.layers.Identity(name="embedding")(embeddings[0])
    return keras.Model(inputs, embedding, name="embedder")


def build_reference_model(
    num_samples: int = 160000,
    branches: str = "both",
    *,
    stage_channels: Sequence[int] = (16, 32, 64, 128),
    spectrum_filters: int = 128,
    dense_units: int = 128,
    branch_dim: int = 128,
    weight_decay: float = 1e-5,
    synchronized_bn: bool = False,
    frame_length: int = 1024,
    frame_step: int = 512,
    name: str = "reference",
) -> keras.Model:
    """Build the reference embedding model ``waveform [B, num_samples] -> embedding [B, D]``.

    Args:
        num_samples: clip length in samples (160000 = 10 s at 16 kHz).
        branches: ``"both"`` (paper), ``"spectrogram"`` (the RISE model of
            Sec. IV) or ``"spectrum"``.
        stage_channels: channels of the stem and the residual stages (16, 32, 64, 128).
        spectrum_filters: filters of the three spectrum Conv1D layers (128).
        dense_units: width of the four hidden spectrum Dense layers (128).
        branch_dim: output size of each branch (128); ``D = branch_dim`` times
            the number of branches (256 for ``"both"``).
        weight_decay: L2 factor on every kernel (1e-5).
        synchronized_bn: use cross-replica BatchNorm statistics.
        frame_length, frame_step: STFT window and hop (1024, 512).
        name: model name.

    Returns:
        a ``keras.Model`` with sub-models ``frontend`` and ``embedder``.
    """
    frontend = build_reference_frontend(num_samples, branches, frame_length, frame_step)
    feature_shapes = {key: tuple(tensor.shape[1:]) for key, tensor in frontend.output.items()}
    embedder = build_reference_embedder(
        feature_shapes,
        stage_channels=stage_channels,
        spectrum_filters=spectrum_filters,
        dense_units=dense_units,
        branch_dim=branch_dim,
        weight_decay=weight_decay,
        synchronized_bn=synchronized_bn,
    )
    waveform = keras.Input((int(num_samples),), name="waveform")
    embedding = embedder(frontend(waveform))
    return keras.Model(waveform, embedding, name=name)


def branch_slices(model: keras.Model) -> dict[str, tuple[int, int]]:
    """Where each branch embedding lies in the reference model's embedding: ``{branch: (start, stop)}``.

    The embedding concatenates the branch outputs (``spectrum_embedding``,
    ``spectrogram_embedding``) in the order spectrum, spectrogram, so for the
    default model this is ``{"spectrum": (0, 128), "spectrogram": (128, 256)}``.
    Used by training options that treat the branches separately (FeatEx).
    ``model``: a reference model (with its ``embedder`` sub-model) or the embedder itself.
    """
    try:
        embedder = model.get_layer("embedder")
    except ValueError:
        embedder = model
    slices: dict[str, tuple[int, int]] = {}
    start = 0
    for branch in BRANCHES["both"]:
        try:
            layer = embedder.get_layer(f"{branch}_embedding")
        except ValueError:
            continue
        width = int(layer.output.shape[-1])
        slices[branch] = (start, start + width)
        start += width
    if not slices:
        raise ConfigError(
            f"model {model.name!r} has no addressable branch embeddings (layers 'spectrum_embedding' / "
            "'spectrogram_embedding' of the reference backbone)"
        )
    return slices
