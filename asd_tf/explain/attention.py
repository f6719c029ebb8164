"""Attention maps of the low-complexity attention model (Neri & Carli, IEEE Sens. Lett. 2024, Fig. 4).

The model's attention module ``f_ATT`` outputs a sigmoid map ``H`` of shape
``[frames, n_mels, 2]`` (channel 0 weighs the log-mel spectrogram, channel 1
the Wavegram) that multiplies its input. Neri & Carli show the mean and the
standard deviation of ``H`` over the test set. Here they are accumulated
streaming (float64 sums of ``H`` and ``H**2``), so memory does not grow with
the number of clips; std is the population standard deviation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from asd_tf.errors import ConfigError

__all__ = ["ATTENTION_LAYER", "attention_map_model", "attention_mean_std", "plot_attention_maps"]

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


def plot_attention_maps(
    mean: Any,
    std: Any,
    seconds_per_frame: float,
    out_path_stem: str | Path,
    *,
    title: str = "",
    panel_size: tuple[float, float] = (4.0, 3.0),
    dpi: int = 100,
) -> list[str]:
    """Mean and std of the attention map per channel (rows: channels, columns: mean, std), Neri Fig. 4.

    Time in s on the x axis (``seconds_per_frame`` per frame), mel band index on
    the y axis, one colour scale per panel. Writes ``<stem>.png`` and ``<stem>.pdf``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asd_tf.explain import save_figure

    m = np.asarray(mean, np.float64)
    s = np.asarray(std, np.float64)
    if m.ndim != 3 or m.shape != s.shape:
        raise ConfigError(f"attention mean {m.shape} and std {s.shape} must be the same [frames, n_mels, channels]")
    frames, mels, channels = m.shape
    extent = (0.0, frames * seconds_per_frame, 0.0, float(mels))
    fig, axes = plt.subplots(
        channels, 2, figsize=(panel_size[0] * 2, panel_size[1] * channels), dpi=dpi, squeeze=False
    )
    for c in range(channels):
        name = CHANNEL_NAMES[c] if c < len(CHANNEL_NAMES) else f"channel {c}"
        for ax, img, what in ((axes[c, 0], m[..., c], "mean"), (axes[c, 1], s[..., c], "std")):
            im = ax.imshow(img.T, origin="lower", aspect="auto", extent=extent, cmap="viridis", interpolation="nearest")
            fig.colorbar(im, ax=ax)
            ax.set_title(f"{what} attention, {name}" + (f" ({title})" if title else ""), fontsize=9)
            ax.set_xlabel("time [s]")
            ax.set_ylabel("mel band")
    fig.tight_layout()
    return save_figure(fig, out_path_stem)
