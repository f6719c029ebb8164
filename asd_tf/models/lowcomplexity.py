"""Low-complexity attention model of Neri & Carli (IEEE Sens. Lett. 8, 6014404, 2024).

Sec. II-A/B and III of the paper:

- log-mel ``X_Mel = 20 log10 H_Mel(STFT{x})``: 64 ms Hann window (1024 samples
  at 16 kHz), 50 % overlap (hop 512), 128 mel bins, 313 frames for 10 s. The
  paper's formula is taken literally: magnitude STFT (``power=1``), 20 log10.
- Wavegram ``X_Wave``: *one* separable strided Conv1D with ``f = 128`` filters
  (depthwise kernel 1024 = the window, stride 512 = the hop, so its 313 frames
  match the STFT), instead of STgram-MFN's TgramNet.
- ``X = [X_Mel, X_Wave]`` (channels); attention module ``f_ATT``: two separable
  conv blocks (16 and 64 3x3 filters; SeparableConv2D, BN, ReLU), a 1x1 conv
  to two channels and a sigmoid -> ``H`` (layer ``"attention"``, shape
  ``[batch, frames, 128, 2]``); ``X~ = H * X``.
- MobileFaceNet, ``h = 128``.

Parameter count: the paper reports 882 k without the attention module, 884 k
with it, and 1 M without separable convolutions. These match (to 0.1 %) a
STgram-MFN-style MobileFaceNet (870,336) + a separable Wavegram (1,152 + 128
bias) + the model's ArcFace weights (41 x 128) + an unused linear classifier
left in the public MobileFaceNet (128 x 41 + 41), whereas a standard Conv1D
Wavegram adds 131 k ("1 M"). So the separable convolutions are in the Wavegram
and the attention module; the MobileFaceNet stem stays a standard conv
(``separable_stem=True`` is available). This backbone has 873,124 trainable
weights (head excluded).
"""

from __future__ import annotations

import keras

from ..errors import ConfigError
from ..features.logmel import logmel_frames
from .mobilefacenet import MOBILEFACENET_BOTTLENECKS, mobilefacenet
from .stgram import assemble, embedder_inputs, logmel_frontend, stack_channels

_BN = {"momentum": 0.9, "epsilon": 1e-5}


def wavegram(
    waveform, filters: int = 128, kernel_size: int = 1024, stride: int = 512, separable: bool = True,
    use_bias: bool = True, name: str = "wavegram",
):
    """Wavegram ``[batch, samples] -> [batch, 1 + samples // stride, filters]``: one strided Conv1D.

    ``separable=True``: depthwise kernel over the single input channel then a
    1x1 projection to ``filters`` (Neri & Carli); ``False``: a standard Conv1D
    (their "w/o separable convs" ablation). Bias on (PyTorch's Conv1d default).
    """
    x = keras.layers.Reshape((waveform.shape[1], 1), name=f"{name}_expand")(waveform)
    x = keras.layers.ZeroPadding1D(kernel_size // 2, name=f"{name}_pad")(x)
    if separable:
        return keras.layers.SeparableConv1D(filters, kernel_size, strides=stride, use_bias=use_bias, name=name)(x)
    return keras.layers.Conv1D(filters, kernel_size, strides=stride, use_bias=use_bias, name=name)(x)


def attention_module(x, filters: tuple[int, ...] = (16, 64), name: str = "attention"):
    """``f_ATT``: separable 3x3 conv blocks, 1x1 conv to ``channels(x)``, sigmoid -> map named ``name``."""
    y = x
    for i, f in enumerate(filters):
        y = keras.layers.SeparableConv2D(f, 3, padding="same", use_bias=False, name=f"{name}_sepconv{i}")(y)
        y = keras.layers.BatchNormalization(**_BN, name=f"{name}_bn{i}")(y)
        y = keras.layers.ReLU(name=f"{name}_relu{i}")(y)
    y = keras.layers.Conv2D(x.shape[-1], 1, name=f"{name}_projection")(y)
    return keras.layers.Activation("sigmoid", name=name)(y)  # H in R+^{t x f x 2}


def build_lowcomplexity_attention(
    num_samples: int = 160000,
    *,
    sample_rate: int = 16000,
    n_fft: int = 1024,
    hop_length: int = 512,
    n_mels: int = 128,
    embedding_dim: int = 128,
    logmel: dict | None = None,
    use_attention: bool = True,
    separable_wavegram: bool = True,
    attention_filters: tuple[int, ...] = (16, 64),
    separable_stem: bool = False,
    dropout: float = 0.0,
    bottlenecks=MOBILEFACENET_BOTTLENECKS,
) -> keras.Model:
    """Neri & Carli's model: ``[logmel, Wavegram]`` -> attention -> MobileFaceNet -> embedding.

    Args:
        num_samples: clip length (160000 = 10 s at 16 kHz).
        sample_rate, n_fft, hop_length, n_mels: log-mel settings (16 kHz, 1024 = 64 ms, 512, 128).
        embedding_dim: ``h`` (128; the paper's Table 3 also tries 64 and 256).
        logmel: extra :class:`~asd_tf.features.logmel.LogMelSpectrogram` arguments;
            defaults here are ``power=1`` and ``log="db"`` (20 log10 of mel magnitudes).
        use_attention: include ``f_ATT`` (``False``: the "w/o f_ATT" ablation).
        separable_wavegram: separable Wavegram conv (``False``: "w/o separable convs").
        attention_filters: filters of the separable conv blocks of ``f_ATT``.
        separable_stem, dropout, bottlenecks: see :func:`~asd_tf.models.mobilefacenet.mobilefacenet`.

    Returns:
        ``keras.Model`` waveform -> ``[batch, embedding_dim]`` made of sub-models
        ``frontend`` (``{"waveform", "logmel"}``) and ``embedder``; with attention,
        ``embedder.get_layer("attention").output`` is the map ``H`` ``[batch, frames, n_mels, 2]``.
    """
    if int(num_samples) < 4 * hop_length:
        raise ConfigError(f"num_samples ({num_samples}) is too short: need at least 4 hops of {hop_length} samples")
    options = {"sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels,
               "power": 1.0, "log": "db"}
    options.update(logmel or {})
    frontend = logmel_frontend(num_samples, options)
    frames = logmel_frames(num_samples, options["hop_length"], options["n_fft"], options.get("center", True))
    inputs = embedder_inputs(num_samples, frames, options["n_mels"])
    if options["n_fft"] % 2:
        raise ConfigError(f"n_fft must be even so Wavegram and log-mel frames line up, got {options['n_fft']}")
    # Wavegram kernel = STFT window, stride = hop: its frames line up with the log-mel frames.
    wave = wavegram(inputs["waveform"], filters=options["n_mels"], kernel_size=options["n_fft"],
                    stride=options["hop_length"], separable=separable_wavegram)
    x = stack_channels([inputs["logmel"], wave], name="stack")  # X: [b, t, f, 2]
    if use_attention:
        attention = attention_module(x, filters=tuple(attention_filters))
        x = keras.layers.Multiply(name="attended")([attention, x])  # X~ = f_ATT(X) (x) X
    embedding = mobilefacenet(
        x, embedding_dim=embedding_dim, separable_stem=separable_stem, dropout=dropout, bottlenecks=bottlenecks
    )
    embedder = keras.Model(inputs, embedding, name="embedder")
    return assemble(num_samples, frontend, embedder, "lowcomplexity_attention")
