"""Attention maps of the low-complexity attention model (Neri & Carli, IEEE Sens. Lett. 2024, Fig. 4).

The model's attention module ``f_ATT`` outputs a sigmoid map ``H`` of shape
``[frames, n_mels, 2]`` (channel 0 weighs the log-mel spectrogram, channel 1
the Wavegram) that multiplies its input. Neri & Carli show the mean and the
standard deviation of ``H`` over the test set. Here they are accumulated
streaming (float64 sums of ``H`` and ``H**2``), so memory does not grow with
the number of clips; std is the population standard deviation.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from asd_tf.errors import ConfigError

__all__ = ["ATTENTION_LAYER", "attention_map_model", "attention_mean_std"]

ATTENTION_LAYER = "attention"
CHANNEL_NAMES = ("log-mel", "Wavegram")


def attention_map_model(model: Any) -> Any:
    """Keras model ``waveform [B, samples] -> H [B, frames, n_mels, channels]`` of a trained attention model.

    ``model`` is the run's waveform -> embedding model whose ``embedder``
    sub-model contains the layer named ``"attention"``
    (:func:`asd_tf.models.lowcomplexity.build_lowcomplexity_attention`).
    """
    import keras

    try:
        frontend = model.get_layer("frontend")
        embedder = model.get_layer("embedder")
    except ValueError:
        raise ConfigError(f"model {model.name!r} has no 'frontend'/'embedder' sub-models") from None
    try:
        layer = embedder.get_layer(ATTENTION_LAYER)
    except ValueError:
        raise ConfigError(
            f"model {model.name!r} has no layer named {ATTENTION_LAYER!r}; attention maps need the "
            "lowcomplexity_attention backbone with use_attention=True"
        ) from None
    maps = keras.Model(embedder.input, layer.output, name="attention_maps")
    waveform = keras.Input(shape=model.input_shape[1:], name="waveform")
    return keras.Model(waveform, maps(frontend(waveform)), name="waveform_to_attention")


def attention_mean_std(batches: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and (population) standard deviation over clips of attention maps given in batches.

    Args:
        batches: iterable of ``[b, frames, n_mels, channels]`` arrays.

    Returns:
        ``(mean, std, n_clips)``; mean and std are float32 ``[frames, n_mels, channels]``.
    """
    total = total_sq = None
    n = 0
    for batch in batches:
        h = np.asarray(batch, np.float64)
        if total is None:
            total = np.zeros(h.shape[1:], np.float64)
            total_sq = np.zeros(h.shape[1:], np.float64)
        elif h.shape[1:] != total.shape:
            raise ConfigError(f"attention maps change shape: {h.shape[1:]} after {total.shape}")
        total += h.sum(0)
        total_sq += np.square(h).sum(0)
        n += h.shape[0]
    if total is None or n == 0:
        raise ConfigError("attention_mean_std: no attention maps given")
    mean = total / n
    var = np.maximum(total_sq / n - np.square(mean), 0.0)  # rounding can push it a hair below 0
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32), n
