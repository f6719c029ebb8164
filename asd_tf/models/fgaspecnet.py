"""FGASpecNet (Jiang et al., "Anomalous sound detection by fusing spectral
enhancement and frequency-gated attention", Mathematics 14(3), 530, 2026).

Sec. 2.1-2.2 of the paper; ``T`` frames, ``M`` mel bins, all maps ``[batch, T, M]``:

- Tgram ``F_T`` (TgramNet, Table 1), log-mel ``F_LM`` (128 mels, hop 512,
  window 2048 per Sec. 3.1.1), TAgram ``F_TA = sigma(avg_f + max_f) * F_LM``.
- SpecNet: ``F^ = FFT2(F_LM)``, ``S^ = C2(tanh(SpectralBN(C1(F^))))``,
  ``F_S = IFFT2(F^ + S^)`` where ``C1, C2`` are :class:`FourierConv2D`
  (pointwise complex products, the Fourier image of a circular convolution,
  Rippel et al. 2015) and :class:`SpectralBatchNormalization` normalises real
  and imaginary parts separately. Complex values live only inside layers: a
  spectrum is passed between layers as a real tensor ``[..., 2]`` = (re, im).
  ``tanh`` acts on real and imaginary parts separately (bounded, unlike the
  complex tanh with poles); ``F_S`` is the real part of the inverse FFT.
- :class:`FrequencyGatedAttention`: ``g_f = sigma(Linear([max_t F_TA, avg_t F_TA]))``,
  ``g_t = sigma(Conv1D(avg_f F_TA))``, ``G = g_t g_f^T``,
  ``F_S_enh = (1 - l G) F_LM + l G F_S``.
- ``[F_LM, F_T, F_TA, F_S_enh]`` (4 channels) -> MobileFaceNet -> 128-d.

Not given by the paper, chosen here: fusion weight ``l = 0.5`` (a fixed
hyper-parameter), Conv1D kernel 3 with bias, Linear with bias (PyTorch
defaults), unnormalised forward FFT (``torch.fft.fft2`` default). Trainable
weights for 10 s clips: 1,345,054 (paper: "1.3 M"); the head is excluded.
"""

from __future__ import annotations

import keras
from keras import ops

from ..errors import ConfigError
from .mobilefacenet import MOBILEFACENET_BOTTLENECKS
from .stgram import TemporalAttention, logmel_tgram_inputs, mobilefacenet_backbone


def _split(x):
    """A spectrum ``[..., 2]`` as its ``(real, imag)`` parts ``[...]`` (the tuple form of ``keras.ops.fft2``)."""
    return x[..., 0], x[..., 1]


def _to_real_pair(real, imag):
    return ops.stack([real, imag], axis=-1)


@keras.saving.register_keras_serializable(package="asd_tf")
class Fourier2D(keras.layers.Layer):
    """2-D FFT over the last two axes: real ``[batch, T, M]`` -> spectrum ``[batch, T, M, 2]`` (re, im).

    Unnormalised (``torch.fft.fft2`` / ``numpy.fft.fft2`` convention).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        return _to_real_pair(*ops.fft2((x, ops.zeros_like(x))))

    def compute_output_shape(self, input_shape):
        return (*input_shape, 2)


@keras.saving.register_keras_serializable(package="asd_tf")
class InverseFourier2D(keras.layers.Layer):
    """Inverse 2-D FFT of a spectrum ``[batch, T, M, 2]``; returns the real part ``[batch, T, M]``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        real, _ = ops.ifft2(_split(ops.cast(inputs, "float32")))
        return real

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


@keras.saving.register_keras_serializable(package="asd_tf")
class FourierConv2D(keras.layers.Layer):
    """Frequency-domain convolution: ``Y(u, v) = W(u, v) X(u, v)`` with a learnable complex ``W``.

    By the convolution theorem this is a circular 2-D convolution with a
    full-size kernel ``h = IFFT2(W)`` (Jiang et al. 2026, Sec. 2.1.4). ``W``
    has one complex value per 2-D frequency, stored as two real weights
    ``[T, M]`` each (``2 T M`` parameters).

    Args:
        kernel_initializer: initialiser of the real and imaginary parts.

    Call arguments:
        inputs: spectrum ``[batch, T, M, 2]`` (re, im).

    Returns:
        ``[batch, T, M, 2]``.
    """

    def __init__(self, kernel_initializer="random_normal", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != 2 or input_shape[1] is None or input_shape[2] is None:
            raise ConfigError(f"{self.name}: expected a spectrum [batch, T, M, 2] with known T, M, got {input_shape}")
        shape = (int(input_shape[1]), int(input_shape[2]))
        self.kernel_real = self.add_weight(name="kernel_real", shape=shape, initializer=self.kernel_initializer)
        self.kernel_imag = self.add_weight(name="kernel_imag", shape=shape, initializer=self.kernel_initializer)

    def call(self, inputs):
        a, b = _split(ops.cast(inputs, "float32"))  # z = a + ib, [b, T, M]
        c = ops.convert_to_tensor(self.kernel_real)[None]  # w = c + id, [1, T, M]
        d = ops.convert_to_tensor(self.kernel_imag)[None]
        return _to_real_pair(a * c - b * d, a * d + b * c)  # z w

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config["kernel_initializer"] = keras.initializers.serialize(self.kernel_initializer)
        return config


@keras.saving.register_keras_serializable(package="asd_tf")
class SpectralBatchNormalization(keras.layers.BatchNormalization):
    """Batch normalisation of real and imaginary parts separately (``SpectralBN``, Jiang et al. 2026).

    A :class:`keras.layers.BatchNormalization` over the last (re, im) axis of a
    spectrum ``[batch, T, M, 2]``: each part has its own mean, variance,
    scale and offset, taken over batch and all 2-D frequencies.

    Args:
        momentum: moving-average momentum (0.9 = PyTorch's 0.1).
        epsilon: variance floor (1e-5, PyTorch default).
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, **kwargs):
        kwargs.pop("axis", None)
        super().__init__(axis=-1, momentum=momentum, epsilon=epsilon, **kwargs)

    def build(self, input_shape):
        if input_shape[-1] != 2:
            raise ConfigError(f"{self.name}: expected a spectrum [..., 2] (re, im), got {input_shape}")
        super().build(input_shape)

    def get_config(self) -> dict:
        config = keras.layers.Layer.get_config(self)
        config.update({"momentum": self.momentum, "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="asd_tf")
class FrequencyGatedAttention(keras.layers.Layer):
    """Frequency-gated fusion of log-mel and Specgram conditioned on TAgram (Jiang et al. 2026, Sec. 2.2).

    ``s_f = [max_t F_TA, avg_t F_TA]`` (``[batch, 2M]``), ``g_f = sigma(s_f A + a)``
    (``[batch, M]``); ``g_t = sigma(conv1d(avg_f F_TA, k) + c)`` (``[batch, T]``);
    ``G[t, m] = g_t[t] g_f[m]``; output ``(1 - l G) F_LM + l G F_S``.

    Args:
        fusion_weight: ``l`` in [0, 1] (not given in the paper; 0.5).
        kernel_size: kernel of the temporal Conv1D (not given; 3, "same" padding).

    Call arguments:
        inputs: list ``[tagram, logmel, specgram]``, each ``[batch, T, M]``.

    Returns:
        ``F_S_enh`` ``[batch, T, M]``.
    """

    def __init__(self, fusion_weight: float = 0.5, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(fusion_weight) <= 1.0:
            raise ConfigError(f"FrequencyGatedAttention: fusion_weight must be in [0, 1], got {fusion_weight}")
        if int(kernel_size) < 1:
            raise ConfigError(f"FrequencyGatedAttention: kernel_size must be >= 1, got {kernel_size}")
        self.fusion_weight = float(fusion_weight)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        mels = input_shape[0][-1]
        if mels is None:
            raise ConfigError(f"{self.name}: the mel axis must have a known size")
        mels = int(mels)
        self.freq_kernel = self.add_weight(name="freq_kernel", shape=(2 * mels, mels), initializer="glorot_uniform")
        self.freq_bias = self.add_weight(name="freq_bias", shape=(mels,), initializer="zeros")
        self.time_kernel = self.add_weight(name="time_kernel", shape=(self.kernel_size, 1, 1), initializer="glorot_uniform")
        self.time_bias = self.add_weight(name="time_bias", shape=(1,), initializer="zeros")

    def gates(self, tagram):
        """Return ``(g_t [batch, T], g_f [batch, M])`` for a TAgram ``[batch, T, M]``."""
        stats = ops.concatenate([ops.max(tagram, axis=1), ops.mean(tagram, axis=1)], axis=-1)  # [b, 2M]
        g_f = ops.sigmoid(ops.matmul(stats, self.freq_kernel) + self.freq_bias)  # [b, M]
        profile = ops.mean(tagram, axis=2)[..., None]  # [b, T, 1]
        g_t = ops.sigmoid(ops.conv(profile, self.time_kernel, strides=1, padding="same") + self.time_bias)[..., 0]
        return g_t, g_f

    def call(self, inputs):
        tagram, logmel, specgram = inputs
        g_t, g_f = self.gates(tagram)
        gate = self.fusion_weight * g_t[:, :, None] * g_f[:, None, :]  # l G, [b, T, M]
        return (1.0 - gate) * logmel + gate * specgram

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"fusion_weight": self.fusion_weight, "kernel_size": self.kernel_size})
        return config


def spec_net(logmel, name: str = "specnet"):
    """SpecNet: ``F_S = IFFT2(F^ + C2(tanh(SpectralBN(C1(F^)))))`` with ``F^ = FFT2(F_LM)``; ``[b, T, M]``."""
    spectrum = Fourier2D(name=f"{name}_fft")(logmel)  # F^: [b, T, M, 2]
    residual = FourierConv2D(name=f"{name}_fconv1")(spectrum)
    residual = SpectralBatchNormalization(name=f"{name}_bn")(residual)
    residual = keras.layers.Activation("tanh", name=f"{name}_tanh")(residual)
    residual = FourierConv2D(name=f"{name}_fconv2")(residual)  # S^
    enhanced = keras.layers.Add(name=f"{name}_add")([spectrum, residual])
    return InverseFourier2D(name=f"{name}_ifft")(enhanced)  # F_S: [b, T, M]


def build_fgaspecnet(
    num_samples: int = 160000,
    *,
    sample_rate: int = 16000,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    embedding_dim: int = 128,
    logmel: dict | None = None,
    fusion_weight: float = 0.5,
    gate_kernel_size: int = 3,
    layer_norm_axis: str = "time",
    tgram_kernel: int = 1024,
    separable_stem: bool = False,
    dropout: float = 0.0,
    bottlenecks=MOBILEFACENET_BOTTLENECKS,
) -> keras.Model:
    """FGASpecNet: ``[F_LM, F_T, F_TA, F_S_enh]`` -> MobileFaceNet -> ``[batch, embedding_dim]``.

    Args:
        num_samples: clip length (160000 = 10 s at 16 kHz).
        sample_rate, n_fft, hop_length, n_mels: log-mel settings (16 kHz, window 2048, hop 512, 128 mels;
            Sec. 3.1.1); the TgramNet kernel stays 1024 (Table 1).
        embedding_dim: embedding size (128).
        logmel: extra :class:`~asd_tf.features.logmel.LogMelSpectrogram` arguments.
        fusion_weight, gate_kernel_size: see :class:`FrequencyGatedAttention`.
        layer_norm_axis, tgram_kernel: see :func:`~asd_tf.models.stgram.tgram_net`.
        separable_stem, dropout, bottlenecks: see :func:`~asd_tf.models.mobilefacenet.mobilefacenet`.

    Returns:
        ``keras.Model`` waveform -> embedding with sub-models ``frontend`` and ``embedder``.
    """
    frontend, inputs, tgram = logmel_tgram_inputs(
        num_samples, sample_rate, n_fft, hop_length, n_mels, logmel, layer_norm_axis, tgram_kernel
    )
    logmel_in = inputs["logmel"]
    tagram = TemporalAttention(name="tagram")(logmel_in)
    specgram = spec_net(logmel_in)
    fused = FrequencyGatedAttention(fusion_weight, gate_kernel_size, name="fga")([tagram, logmel_in, specgram])
    return mobilefacenet_backbone(
        num_samples, frontend, inputs, [logmel_in, tgram, tagram, fused], "fgaspecnet",  # [b, T, M, 4]
        embedding_dim, separable_stem, dropout, bottlenecks,
    )

