"""STgram-MFN and TASTgram-MFN backbones.

STgram-MFN (Liu et al., ICASSP 2022; the backbone of EMM, Zhao et al.):
the log-mel spectrogram (Sgram, 128 mels, window 1024, hop 512) and the
learned temporal feature Tgram are stacked as two channels and fed to
MobileFaceNet, whose 128-d output is the embedding.

TgramNet (Jiang et al. 2026, Table 1): Conv1D(128, k=1024, s=512, p=512)
so that its frames line up with the STFT frames (313 for 10 s), then
3 x [LayerNorm, LeakyReLU, Conv1D(128, k=3, s=1, p=1)]. The STgram-MFN code
normalises each channel over *time* (``nn.LayerNorm(313)`` on
``[batch, 128, 313]``) with LeakyReLU slope 0.2 and no conv biases; those are
the defaults here (``layer_norm_axis="channels"`` normalises each frame instead).

TASTgram (Choi & Choi, ICASSP 2024, as restated by Jiang et al. 2026,
Sec. 2.1.3) adds a third channel, the TAgram
``sigmoid(AvgPool_f(F_LM) + MaxPool_f(F_LM)) * F_LM`` (:class:`TemporalAttention`,
no weights).

Parameters (10 s clips, head excluded): STgram-MFN 1,150,742 trainable
(papers: "1.1 M"), TASTgram 1,151,318 (paper: "1.2 M"); the ArcFace head of
41 classes x 128 adds 5,248.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError
from ..features.logmel import LogMelSpectrogram, logmel_frames
from .mobilefacenet import MOBILEFACENET_BOTTLENECKS, mobilefacenet


@keras.saving.register_keras_serializable(package="asd_tf")
class TemporalAttention(keras.layers.Layer):
    """TAgram: ``sigmoid(mean_f(X) + max_f(X)) * X`` for ``X`` = log-mel ``[batch, frames, mels]``.

    The per-frame weight is the sigmoid of the sum of average and max pooling
    over the frequency axis, broadcast over all mel bins (Jiang et al. 2026,
    Sec. 2.1.3, ``F_TA = sigma(s_t(F_LM)) (x) F_LM``). No weights.

    Call arguments:
        inputs: ``[batch, frames, mels]``.

    Returns:
        ``[batch, frames, mels]``.
    """

    def call(self, inputs):
        x = ops.convert_to_tensor(inputs)
        score = ops.mean(x, axis=-1, keepdims=True) + ops.max(x, axis=-1, keepdims=True)  # [b, t, 1]
        return ops.sigmoid(score) * x

    def compute_output_shape(self, input_shape):
        return input_shape


def tgram_net(
    waveform,
    channels: int = 128,
    kernel_size: int = 1024,
    stride: int = 512,
    num_layers: int = 3,
    layer_norm_axis: str = "time",
    leaky_slope: float = 0.2,
    name: str = "tgram",
):
    """Apply TgramNet to waveforms ``[batch, samples]`` -> Tgram ``[batch, frames, channels]``.

    ``frames = 1 + samples // stride`` (padding ``kernel_size // 2`` on both
    sides), equal to the centred STFT frame count so Tgram and log-mel stack.
    """
    if layer_norm_axis not in ("time", "channels"):
        raise ConfigError(f"tgram layer_norm_axis must be 'time' or 'channels', got {layer_norm_axis!r}")
    x = keras.layers.Reshape((waveform.shape[1], 1), name=f"{name}_expand")(waveform)  # [b, samples, 1]
    x = keras.layers.ZeroPadding1D(kernel_size // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv1D(channels, kernel_size, strides=stride, use_bias=False, name=f"{name}_encoder")(x)
    for i in range(num_layers):
        # axis=1: normalise each channel over time (torch LayerNorm(313) on [b, c, t]).
        axis = 1 if layer_norm_axis == "time" else -1
        x = keras.layers.LayerNormalization(axis=axis, epsilon=1e-5, name=f"{name}_ln{i}")(x)
        x = keras.layers.LeakyReLU(negative_slope=leaky_slope, name=f"{name}_act{i}")(x)
        x = keras.layers.Conv1D(channels, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
    return x  # [b, frames, channels]


def stack_channels(features: list, name: str):
    """Stack ``[batch, T, F]`` tensors into ``[batch, T, F, len(features)]`` with plain Keras layers."""
    frames, bins = features[0].shape[1], features[0].shape[2]
    expanded = [
        keras.layers.Reshape((frames, bins, 1), name=f"{name}_c{i}")(feature) for i, feature in enumerate(features)
    ]
    return keras.layers.Concatenate(axis=-1, name=name)(expanded)


def logmel_frontend(num_samples: int, logmel_options: dict[str, Any], name: str = "frontend") -> keras.Model:
    """Frontend ``waveform -> {"waveform": [b, samples], "logmel": [b, frames, n_mels]}`` (no weights)."""
    waveform = keras.Input((num_samples,), name="waveform")
    logmel = LogMelSpectrogram(name="logmel", **logmel_options)(waveform)
    passthrough = keras.layers.Identity(name="waveform_out")(waveform)
    return keras.Model(waveform, {"waveform": passthrough, "logmel": logmel}, name=name)


def embedder_inputs(num_samples: int, frames: int, n_mels: int) -> dict:
    """Keras inputs of an embedder taking the :func:`logmel_frontend` dict."""
    return {
        "waveform": keras.Input((num_samples,), name="waveform"),
        "logmel": keras.Input((frames, n_mels), name="logmel"),
    }


def assemble(num_samples: int, frontend: keras.Model, embedder: keras.Model, name: str) -> keras.Model:
    """``embedder(frontend(waveform))`` as one model with sub-models ``frontend`` and ``embedder``."""
    waveform = keras.Input((num_samples,), name="waveform")
    return keras.Model(waveform, embedder(frontend(waveform)), name=name)


def logmel_tgram_inputs(
    num_samples: int,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    logmel: dict | None,
    layer_norm_axis: str,
    tgram_kernel: int,
) -> tuple[keras.Model, dict, Any]:
    """Shared start of the Tgram backbones (STgram-MFN, TASTgram, FGASpecNet).

    Checks the clip length and kernel, builds the :func:`logmel_frontend`, the
    embedder's :func:`embedder_inputs` and the Tgram of the waveform input.

    Returns:
        ``(frontend, inputs, tgram)`` with ``inputs = {"waveform", "logmel"}``
        and ``tgram`` ``[b, frames, n_mels]``.
    """
    if int(num_samples) < 4 * hop_length:
        raise ConfigError(f"num_samples ({num_samples}) is too short: need at least 4 hops of {hop_length} samples")
    # Tgram frames must equal log-mel frames: stride = hop, padding = kernel // 2 (Table 1).
    if tgram_kernel % 2:
        raise ConfigError(f"tgram_kernel must be even so Tgram and log-mel frames line up, got {tgram_kernel}")
    options = {"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels}
    options.update(logmel or {})
    frontend = logmel_frontend(num_samples, options)
    frames = logmel_frames(num_samples, options["hop_length"], options["n_fft"], options.get("center", True))
    inputs = embedder_inputs(num_samples, frames, options["n_mels"])
    tgram = tgram_net(
        inputs["waveform"], channels=options["n_mels"], kernel_size=tgram_kernel,
        stride=options["hop_length"], layer_norm_axis=layer_norm_axis,
    )
    return frontend, inputs, tgram


def mobilefacenet_backbone(
    num_samples: int,
    frontend: keras.Model,
    inputs: dict,
    channels: list,
    name: str,
    embedding_dim: int,
    separable_stem: bool,
    dropout: float,
    bottlenecks,
) -> keras.Model:
    """Shared end of the Tgram backbones: stack ``channels`` -> MobileFaceNet -> embedder, assembled as ``name``."""
    x = stack_channels(channels, name="stack")  # [b, frames, mels, len(channels)]
    embedding = mobilefacenet(
        x, embedding_dim=embedding_dim, separable_stem=separable_stem, dropout=dropout, bottlenecks=bottlenecks
    )
    embedder = keras.Model(inputs, embedding, name="embedder")
    return assemble(num_samples, frontend, embedder, name)


def _stgram_builder(with_temporal_attention: bool, name: str, doc: str):
    """Builder of STgram-MFN (``[logmel, Tgram]``) or TASTgram (``+ TAgram``); one signature for both."""

    def build(
        num_samples: int = 160000,
        *,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 512,
        n_mels: int = 128,
        embedding_dim: int = 128,
        logmel: dict | None = None,
        layer_norm_axis: str = "time",
        tgram_kernel: int = 1024,
        separable_stem: bool = False,
        dropout: float = 0.0,
        bottlenecks=MOBILEFACENET_BOTTLENECKS,
    ) -> keras.Model:
        frontend, inputs, tgram = logmel_tgram_inputs(
            num_samples, sample_rate, n_fft, hop_length, n_mels, logmel, layer_norm_axis, tgram_kernel
        )
        channels = [inputs["logmel"], tgram]
        if with_temporal_attention:
            channels.append(TemporalAttention(name="tagram")(inputs["logmel"]))
        return mobilefacenet_backbone(
            num_samples, frontend, inputs, channels, name, embedding_dim, separable_stem, dropout, bottlenecks
        )

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = doc
    return build


build_stgram_mfn = _stgram_builder(
    False,
    "stgram_mfn",
    """STgram-MFN: ``[logmel, Tgram]`` -> MobileFaceNet -> ``[batch, embedding_dim]``.

    Args:
        num_samples: clip length (160000 = 10 s at 16 kHz in the papers).
        sample_rate, n_fft, hop_length, n_mels: log-mel settings (16 kHz, 1024, 512, 128).
        embedding_dim: embedding size (128).
        logmel: extra :class:`LogMelSpectrogram` arguments (e.g. ``{"log": "natural"}``).
        layer_norm_axis: TgramNet LayerNorm over ``"time"`` (STgram-MFN code) or ``"channels"``.
        tgram_kernel: TgramNet first kernel (1024 = the STFT window; even, padded by half).
        separable_stem, dropout, bottlenecks: see :func:`mobilefacenet`.

    Returns:
        ``keras.Model`` waveform ``[batch, num_samples]`` -> embedding, built as
        ``embedder(frontend(waveform))``; frontend outputs ``{"waveform", "logmel"}``.
    """,
)

build_tastgram = _stgram_builder(
    True,
    "tastgram",
    """TASTgram-MFN: ``[logmel, Tgram, TAgram]`` -> MobileFaceNet -> embedding (arguments as :func:`build_stgram_mfn`).""",
)
